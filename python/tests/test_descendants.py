"""Every process a worker starts ends with it, whichever way the worker ends.

The worker alone is signalled here (never its process group), so what these tests see is the
worker's own doing: its sweep on the way out, or its watchdog after a SIGKILL.
"""
from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

from snakepit_bridge import reaper

HERE = Path(__file__).resolve().parent
NODE_ADAPTERS = HERE.parent.parent / "test" / "adapters"
ENV = {"PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE / "adapters"), str(NODE_ADAPTERS)])}
SPAWNER = "descendant_adapters.Spawner"


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def alive(pid: int) -> bool:
    return _state(pid) not in (None, "Z", "X")


def wait_until(check, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def watchdog_of(worker_pid: int) -> int:
    """The watchdog of a live worker: its child named snakepit-watch (reaper.py)."""
    found: list[int] = []

    def look() -> bool:  # it names itself just after the fork, which may lag on a busy machine
        found[:] = [int(p) for p in os.listdir("/proc") if p.isdigit() and comm(int(p)) == reaper.WATCHDOG_NAME
                    and parent_of(int(p)) == worker_pid]
        return len(found) == 1

    assert wait_until(look), found
    return found[0]


def comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def parent_of(pid: int) -> int | None:
    proc = reaper.read_proc(pid)
    return proc.ppid if proc is not None else None


def mark_of(pid: int) -> str:
    """The worker's mark, as an exec'd descendant carries it in its environment (once it has
    exec'd: until then it is a fork of the worker, whose own starting environment has none)."""
    prefix = f"{reaper.MARK_ENV}=".encode()
    found: list[str] = []

    def look() -> bool:
        with open(f"/proc/{pid}/environ", "rb") as f:
            found[:] = [e[len(prefix):].decode() for e in f.read().split(b"\0") if e.startswith(prefix)]
        return bool(found)

    assert wait_until(look), f"process {pid} never showed the worker's mark"
    return found[0]


def marked(mark: str) -> list[int]:
    """Live processes carrying a worker's mark in their environment."""
    needle = f"SNAKEPIT_WORKER_MARK={mark}".encode()
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/environ", "rb") as f:
                    if needle in f.read().split(b"\0") and alive(int(p)):
                        out.append(int(p))
            except OSError:
                pass
    return out


def left_behind(spawned: dict) -> set[int]:
    """Every pid spawn_all reported: its descendants, and the ones it started itself."""
    return set(spawned["all"]).union(*spawned["pids"].values())


@pytest.fixture
def spawner(spawn):
    w = spawn(SPAWNER, env=ENV)
    yield w, w.session()


def test_the_worker_is_a_subreaper_orphans_come_to_it(spawner):
    w, s = spawner
    orphan = s.call("orphan_sleeper")
    assert orphan["ppid"] == w.proc.pid
    os.kill(orphan["pid"], signal.SIGKILL)
    # Its exit status goes to the worker, which collects it: no zombie is left behind.
    assert wait_until(lambda: _state(orphan["pid"]) is None), f"state {_state(orphan['pid'])}"


def test_a_child_whose_popen_still_waits_keeps_its_exit_code(spawner):
    _, s = spawner
    pid = s.call("child_from_ended_thread", {"code": 7})
    time.sleep(5)  # more than two passes of the orphan reaper
    assert s.call("wait_child", {"pid": pid}) == 7


def test_forked_children_live_on(spawner):
    _, s = spawner
    forked = [s.call("fork_sleeper") for _ in range(20)]
    time.sleep(1.5)
    assert [p for p in forked if not alive(p)] == [], "a forked child died on its own"


@contextlib.contextmanager
def frozen_watchdog(worker_pid: int):
    """Stops the worker's watchdog, so that what ends meanwhile is the worker's own doing."""
    watchdog = watchdog_of(worker_pid)
    os.kill(watchdog, signal.SIGSTOP)
    try:
        yield watchdog
    finally:
        os.kill(watchdog, signal.SIGCONT)


def test_sigterm_to_the_worker_alone_ends_every_descendant_before_it_exits(spawner):
    w, s = spawner
    left = s.call("spawn_all")
    extra = [s.call("env_cleared_sleeper")]
    everything = left_behind(left) | set(extra)
    assert all(alive(p) for p in everything)
    with frozen_watchdog(w.proc.pid) as watchdog:
        os.kill(w.proc.pid, signal.SIGTERM)
        assert w.proc.wait(10) == -signal.SIGTERM
        assert [p for p in everything if alive(p) and p != watchdog] == []
    assert wait_until(lambda: not alive(watchdog)), "the watchdog ends once the worker has"


def test_sigkill_of_the_worker_alone_the_watchdog_ends_every_descendant(spawner):
    w, s = spawner
    left = s.call("spawn_all")
    cleared = s.call("env_cleared_sleeper")
    time.sleep(1.5)  # the watchdog notes direct children every 0.5 s; unmarked ones need that
    everything = left_behind(left) | {cleared}
    assert all(alive(p) for p in everything)
    os.kill(w.proc.pid, signal.SIGKILL)
    assert w.proc.wait(10) == -signal.SIGKILL
    assert wait_until(lambda: not any(alive(p) for p in everything)), [(p, cmdline(p)) for p in everything if alive(p)]


def test_parent_death_ends_descendants_outside_the_group(spawner):
    w, s = spawner
    left = s.call("spawn_all")
    with frozen_watchdog(w.proc.pid) as watchdog:
        w.control.close()  # what the kernel does when Node dies, even by SIGKILL
        assert w.proc.wait(10) != 0
        assert [p for p in left_behind(left) if alive(p) and p != watchdog] == []
    assert wait_until(lambda: not alive(watchdog))


def test_a_normal_return_ends_every_descendant(spawner):
    w, s = spawner
    left = s.call("spawn_all")
    with frozen_watchdog(w.proc.pid) as watchdog:
        os.kill(w.proc.pid, signal.SIGINT)  # KeyboardInterrupt: main() stops the server and returns
        assert w.proc.wait(10) == 0
        assert [p for p in left_behind(left) if alive(p) and p != watchdog] == []
    assert wait_until(lambda: not alive(watchdog))


def test_a_process_that_keeps_forking_is_outpaced(spawner):
    w, s = spawner
    shell = s.call("respawner")
    mark = mark_of(shell)
    assert wait_until(lambda: len(marked(mark)) >= 5), "the shell is forking"
    with frozen_watchdog(w.proc.pid):
        os.kill(w.proc.pid, signal.SIGTERM)
        assert w.proc.wait(10) == -signal.SIGTERM
        assert not alive(shell)
        assert marked(mark) == []


def test_a_failed_start_ends_what_the_adapter_started(spawn, tmp_path):
    pid_file = tmp_path / "pid"
    w = spawn("descendant_adapters.FailsAfterSpawning", env={**ENV, "SPAWNED_PID_FILE": str(pid_file)}, ready=False)
    msg = w.read_line()
    assert msg and msg["type"] == "startup_error", msg
    assert w.proc.wait(10) == 1
    assert not alive(int(pid_file.read_text()))


def test_a_forked_child_keeps_no_worker_handling_and_no_worker_link(spawner):
    w, s = spawner
    report = s.call("fork_report")
    assert isinstance(report, dict), (report.code, report.message, getattr(report, "traceback", ""))
    assert report["worker_sigterm_default"] is False, "the worker handles SIGTERM"
    assert report["sigterm_default"] and report["sighup_default"]
    parent_link = report["worker_fd_links"][str(w.control_fd)]
    watchdog_pipe = [link for link in (os.readlink(f"/proc/{watchdog_of(w.proc.pid)}/fd/{fd}")
                                       for fd in os.listdir(f"/proc/{watchdog_of(w.proc.pid)}/fd"))
                     if link.startswith("pipe:")]
    assert len(watchdog_pipe) == 1
    assert watchdog_pipe[0] in report["worker_fd_links"].values(), "the worker holds the watchdog's pipe"
    assert parent_link not in report["fd_links"]
    assert watchdog_pipe[0] not in report["fd_links"]
