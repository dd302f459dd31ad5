"""The fork server's pieces that need no Node: which hook it runs, how it sees threads, and how a
fork gets an environment block of its own (the whole server is driven by test/preload.test.ts)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from conftest import PYTHON_DIR
from snakepit_bridge import BaseAdapter, tool
from snakepit_bridge.worker import make_adapter, preload_hook


class WithHook(BaseAdapter):
    @classmethod
    def preload(cls):
        return {"model": "loaded"}

    def __init__(self, preloaded):
        self.preloaded = preloaded


class Inherits(WithHook):
    pass


class ToolNamedPreload(BaseAdapter):
    @tool
    def preload(self):
        return "a tool, not a hook"


def test_the_hook_is_a_classmethod_of_the_class_or_its_bases_and_never_a_tool():
    assert preload_hook(WithHook)() == {"model": "loaded"}
    assert preload_hook(Inherits)() == {"model": "loaded"}
    assert preload_hook(ToolNamedPreload) is None
    assert preload_hook(BaseAdapter) is None


def test_a_spawned_worker_runs_the_hook_itself_and_hands_its_result_to_init():
    assert make_adapter(WithHook, "test_forkserver.WithHook").preloaded == {"model": "loaded"}
    assert isinstance(make_adapter(ToolNamedPreload, "test_forkserver.ToolNamedPreload"), ToolNamedPreload)


def run_python(script: str) -> None:
    """Runs `script` in a fresh interpreter (this one has pytest's threads), which prints ok."""
    env = {**os.environ, "PYTHONPATH": str(PYTHON_DIR), "SNAKEPIT_WORKER_NONCE": "0" * 16}
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


def test_a_thread_started_at_import_is_named_and_refused():
    run_python("""
        import threading
        from snakepit_bridge.forkserver import Refused, check_one_thread, other_threads

        assert other_threads() == []
        check_one_thread("mod.Class")
        stop = threading.Event()
        thread = threading.Thread(target=stop.wait, name="a-pool-of-one")
        thread.start()
        try:
            assert other_threads() == ["a-pool-of-one"], other_threads()
            try:
                check_one_thread("mod.Class")
            except Refused as e:
                assert "importing adapter mod.Class left 1 other thread(s) running (a-pool-of-one)" in str(e), e
                assert "preload: false" in str(e)
            else:
                raise AssertionError("a process with two threads was not refused")
        finally:
            stop.set()
            thread.join()
        check_one_thread("mod.Class")  # the ended thread is not held against the module, even while the OS lets it go
        print("ok")
    """)


def test_a_fork_writes_a_nonce_of_its_own_into_the_environment_block_the_kernel_shows():
    run_python("""
        import os
        from snakepit_bridge.forkserver import make_environ_unique

        def block(pid):
            with open(f"/proc/{pid}/environ", "rb") as f:
                return f.read()

        parent = block(os.getpid())
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            make_environ_unique()
            os.write(w, block(os.getpid()))
            os._exit(0)
        os.close(w)
        child = b""
        while chunk := os.read(r, 65536):
            child += chunk
        os.waitpid(pid, 0)
        assert b"SNAKEPIT_WORKER_NONCE=0000000000000000" in parent
        assert child != parent and len(child) == len(parent)
        assert b"SNAKEPIT_WORKER_NONCE=0000000000000000" not in child
        assert block(os.getpid()) == parent
        print("ok")
    """)
