"""Spawning real workers for tests: an inherited control socket, a token, and a client over gRPC
or, where grpc is not installed, the local lane."""
from __future__ import annotations

import json
import os
import re
import secrets
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import faulthandler
import importlib.util

import pytest

HERE = Path(__file__).resolve().parent
PYTHON_DIR = HERE.parent
ADAPTERS = HERE / "adapters"
# How Node starts a worker (src/pythonProcess.ts): `-m snakepit_bridge` without runpy's imports.
WORKER_MAIN = "from snakepit_bridge.worker import main; main()"
# The bridge under test is this source tree, whichever interpreter runs the tests (the dev
# venv's editable install, or an environment of scripts/test-python-range.mjs or
# scripts/test-pythons.mjs with none).
sys.path[:0] = [str(PYTHON_DIR), str(ADAPTERS)]

# The test files that need a package not every supported Python can install, and why; this is
# the one place that says so. With SNAKEPIT_PYTEST_PARTIAL=1 (set by scripts/test-pythons.mjs
# for the interpreters other than the main .venv's) a file that needs a package which does not
# import is left out, and the run's summary names it; without it every file runs, as on the main
# .venv, which has them all. The worker itself needs none of them on the local lane: the Node
# smoke suite (test/pythons/smoke.test.ts) runs it on every interpreter.
PACKAGES = {  # module: the package, and where the package index here has wheels for it
    "grpc": "grpcio (wheels: 3.11 only)",
    "grpc_tools": "grpcio-tools (wheels: 3.11 only)",
    "numpy": "NumPy (wheels: 3.11 only)",
    "pandas": "pandas (wheels: 3.11 only)",
    "mypy": "mypy (wheels: 3.11 only)",
}
_GRPC = ("grpc", "it calls the worker's gRPC services or a bridge server")
NEEDS = {
    "test_admission.py": [_GRPC],
    "test_serve.py": [_GRPC],
    **{f"test_worker_e2e.py::{name}": [_GRPC] for name in [
        "test_token_required", "test_heartbeat_answers_while_a_process_call_runs",
        "test_only_session_and_heartbeat_are_served", "test_corrupt_client_frame_ends_the_worker"]},
    **{f"test_worker_e2e.py::{name}": [("grpc", "a TCP address is the gRPC lane's")] for name in [
        "test_loopback_address_reports_bound_port", "test_public_address_is_refused"]},
    "test_thread_profile.py::test_heartbeat_counts_in_flight_while_threads_are_busy": [_GRPC],
    "test_thread_profile.py::test_numpy_matmul": [("numpy", "it runs a NumPy tool")],
    "test_thread_profile.py::test_safety_checks_report_pandas": [("pandas", "it runs a pandas tool")],
    "test_install.py": [("mypy", "it pip-installs mypy, the user's type checker, beside the bridge")],
    "test_descriptor.py": [("grpc_tools", "it compiles proto/ to check the generated field tables")],
    "test_wire_protobuf.py": [("grpc_tools", "it compiles proto/ into protobuf's classes to check wire.py against them")],
    "test_codec.py": [("numpy", "it checks NumPy arrays")],
    "test_parts.py::test_an_array_in_parts_is_writable_over_its_buffer": [("numpy", "it checks a NumPy array")],
    "test_tooltypes.py::test_numpy_arrays_and_scalars": [("numpy", "it reads NumPy types in hints")],
}
PARTIAL = os.environ.get("SNAKEPIT_PYTEST_PARTIAL") == "1"


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a parent package is missing
        return False


assert all((HERE / key.split("::")[0]).is_file() for key in NEEDS), f"NEEDS names a file that is not in {HERE}"
MISSING = {module for module in PACKAGES if PARTIAL and not _importable(module)}
# What is left out: a file (not even imported) or one test ("file::test", deselected), with the
# needs it lacks.
LEFT_OUT = {key: [(m, why) for m, why in needs if m in MISSING] for key, needs in NEEDS.items()}
LEFT_OUT = {key: needs for key, needs in LEFT_OUT.items() if needs}

if "grpc" not in MISSING:
    import grpc

from snakepit_bridge import wire as pb  # noqa: E402


def pytest_ignore_collect(collection_path, config):
    return collection_path.name in LEFT_OUT


def pytest_collection_modifyitems(config, items):
    out = [item for item in items if f"{item.path.name}::{item.originalname}" in LEFT_OUT]
    if out:
        config.hook.pytest_deselected(items=out)
        items[:] = [item for item in items if item not in out]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not LEFT_OUT:
        return
    files = [key for key in LEFT_OUT if "::" not in key]
    tests = sum(len(re.findall(r"^\s*def test_", (HERE / name).read_text(), re.M)) for name in files)
    tests += len(LEFT_OUT) - len(files)
    terminalreporter.write_line(f"left out on Python {sys.version.split()[0]}: {tests} test functions ({len(files)} files "
                                f"and {len(LEFT_OUT) - len(files)} more tests), which run on the main .venv "
                                f"(python/tests/conftest.py, NEEDS):")
    for key, needs in sorted(LEFT_OUT.items()):
        terminalreporter.write_line(f"  {key}: " + "; ".join(f"no {PACKAGES[m]}, and {why}" for m, why in needs))


class WorkerStub:
    """A client of the Worker service, made from protoc's compilation of the proto: a method the
    worker registers under another name than the proto's fails every call."""

    def __init__(self, channel: grpc.Channel):
        from protobuf_classes import worker_service

        service = worker_service()
        for method in service.methods:
            path = f"/{service.full_name}/{method.name}"
            request = getattr(pb, method.input_type.name)
            reply = getattr(pb, method.output_type.name)
            kind = f"{'stream' if method.client_streaming else 'unary'}_{'stream' if method.server_streaming else 'unary'}"
            setattr(self, method.name, getattr(channel, kind)(
                path, request_serializer=request.SerializeToString, response_deserializer=reply.FromString))


class Worker:
    """One `python -m snakepit_bridge` child with its control socket and a connected client."""

    def __init__(self, adapter: str, *extra: str, profile: str = "process", threads: int = 1,
                 env: dict | None = None, address: str | None = None,
                 python: str | None = None, pythonpath: list[str] | None = None):
        self.tmp = tempfile.TemporaryDirectory(prefix="snakepit-test-")
        self.address = address or f"unix:{self.tmp.name}/w.sock"
        # Without grpc the worker serves the local lane, which session() then speaks (LocalSession).
        if "grpc" in MISSING and "--transport" not in extra:
            extra = ("--transport", "local", *extra)
        self.local = any(a == "--transport" and b == "local" for a, b in zip(extra, extra[1:]))
        self.token = secrets.token_hex(16)
        parent_sock, child_sock = socket.socketpair()
        self.control = parent_sock
        self._buf = b""
        # The child gets the control socket under its own fd number (Node's spawn uses 3; the
        # worker reads the number from SNAKEPIT_CONTROL_FD). No preexec_fn: Python code between
        # fork and exec can deadlock the child, and with it Popen, while grpc threads run here.
        self.control_fd = child_sock.fileno()
        full_env = dict(os.environ)
        full_env.update({
            "SNAKEPIT_CONTROL_FD": str(self.control_fd),
            "SNAKEPIT_WORKER_NONCE": secrets.token_hex(8),
            "PYTHONPATH": os.pathsep.join(pythonpath if pythonpath is not None else [str(PYTHON_DIR), str(ADAPTERS)]),
        })
        full_env.update(env or {})
        argv = [python or sys.executable, "-u", "-c", WORKER_MAIN, "--adapter", adapter, "--address", self.address,
                "--profile", profile, "--threads", str(threads), "--worker-id", "t1", "--run-id", "test", *extra]
        # start_new_session: like Node's detached spawn, the worker leads its own process group.
        self.proc = subprocess.Popen(argv, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     pass_fds=(self.control_fd,), start_new_session=True)
        child_sock.close()
        parent_sock.sendall(self.token.encode() + b"\n")  # as Node does: the token's only way in
        self.channel = None
        self.stub = None
        self.sessions: list[Session] = []
        self.lines: list[dict] = []

    # -- control channel --------------------------------------------------------------------
    def read_line(self, timeout: float = 15.0) -> dict | None:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.control], [], [], left)
            if not r:
                return None
            chunk = self.control.recv(65536)
            if not chunk:
                return None
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        msg = json.loads(line)
        self.lines.append(msg)
        return msg

    def wait_ready(self) -> dict:
        msg = self.read_line()
        assert msg is not None and msg["type"] == "ready", (msg, self.stderr_text())
        self.ready = msg
        if self.local:
            return msg  # no grpc client: session() speaks the lane
        self.channel = grpc.insecure_channel(msg["address"], options=[
            ("grpc.max_send_message_length", 512 * 1024 * 1024),
            ("grpc.max_receive_message_length", 512 * 1024 * 1024),
        ])
        self.stub = WorkerStub(self.channel)
        return msg

    @property
    def metadata(self):
        return (("x-snakepit-token", self.token),)

    # -- calls ------------------------------------------------------------------------------
    def session(self):
        session = LocalSession(self) if self.local else Session(self)
        self.sessions.append(session)
        return session

    def stderr_text(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read().decode(errors="replace")

    def close(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                self.proc.kill()
        self.proc.wait(10)
        # Each stream's request iterator is ended and the call cancelled before the channel
        # closes: grpcio's close() waits for its calls, and a stream still waiting for frames
        # can keep it waiting for ever. Closing runs aside with a bound, so teardown never hangs.
        for session in self.sessions:
            session.close()
            session.cancel_stream() if isinstance(session, LocalSession) else session.call_iter.cancel()
        if self.channel is not None:
            closer = threading.Thread(target=self.channel.close, daemon=True)
            closer.start()
            closer.join(10)
        try:
            self.control.close()
        except OSError:
            pass
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()
        self.tmp.cleanup()


class Session:
    """A Session stream driven from the test: send frames, collect replies by call id."""

    def __init__(self, worker: Worker):
        import queue

        self._q: "queue.Queue" = queue.Queue()
        self._out: "queue.Queue" = queue.Queue()
        self.host_calls: "queue.Queue" = queue.Queue()  # the worker's calls into "Node" (the test)
        self._next_id = 1

        def frames():
            while True:
                f = self._q.get()
                if f is None:
                    return
                yield f

        self.call_iter = worker.stub.Session(frames(), metadata=worker.metadata)

        def pump():
            try:
                for frame in self.call_iter:
                    for h in frame.host_calls:
                        self.host_calls.put(h)
                    for r in frame.replies:
                        self._out.put(r)
            except grpc.RpcError as e:
                self._out.put(e)
            self._out.put(None)

        threading.Thread(target=pump, daemon=True).start()
        self.replies: dict[int, list] = {}

    def send(self, tool: str, args=None, stream=False, raw_json: bytes | None = None) -> int:
        from snakepit_bridge import codec

        cid = self._next_id
        self._next_id += 1
        if raw_json is not None:
            value = pb.Value(json=raw_json)
        else:
            j, blobs = codec.encode(args if args is not None else {})
            value = pb.Value(json=j, blobs=blobs)
        self._q.put(pb.ClientFrame(calls=[pb.Call(id=cid, tool=tool, args=value, stream=stream)]))
        return cid

    def send_many(self, calls) -> list[int]:
        from snakepit_bridge import codec

        ids, out = [], []
        for tool, args in calls:
            cid = self._next_id
            self._next_id += 1
            j, blobs = codec.encode(args)
            out.append(pb.Call(id=cid, tool=tool, args=pb.Value(json=j, blobs=blobs)))
            ids.append(cid)
        self._q.put(pb.ClientFrame(calls=out))
        return ids

    def cancel(self, *ids: int):
        self._q.put(pb.ClientFrame(cancels=list(ids)))

    def wait_final(self, cid: int, timeout: float = 15.0):
        """Replies for cid up to and including its final one."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.replies.get(cid, [])
            if got and got[-1].WhichOneof("outcome") not in ("chunk", "progress"):
                return got
            left = deadline - time.monotonic()
            assert left > 0, f"no final reply for call {cid}; got {got}"
            import queue

            try:
                r = self._out.get(timeout=left)
            except queue.Empty:
                continue
            assert r is not None and not isinstance(r, Exception), f"stream ended: {r}"
            self.replies.setdefault(r.id, []).append(r)

    def call(self, tool: str, args=None, timeout: float = 15.0):
        """Unary call; returns the decoded result or the CallError."""
        from snakepit_bridge import codec

        final = self.wait_final(self.send(tool, args), timeout)[-1]
        if final.WhichOneof("outcome") == "result":
            return codec.decode(final.result.json, final.result.blobs)
        return final.error

    def close(self):
        self._q.put(None)


class LocalSession(Session):
    """The same Session over the worker's local-lane socket (4-byte length, then the frame), for
    interpreters without grpc: one per worker, as the lane serves one connection."""

    def __init__(self, worker: Worker):
        import queue

        self._q: "queue.Queue" = queue.Queue()
        self._out: "queue.Queue" = queue.Queue()
        self.host_calls: "queue.Queue" = queue.Queue()
        self._next_id = 1
        self.replies: dict[int, list] = {}
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(worker.address[len("unix:"):])
        self._q.put(pb.ClientFrame(token=worker.token.encode()))

        def write():
            while True:
                frame = self._q.get()
                if frame is None:
                    return
                data = frame.SerializeToString()
                try:
                    self.sock.sendall(len(data).to_bytes(4, "big") + data)
                except OSError:
                    return

        def read():
            buf = bytearray()
            try:
                while True:
                    while len(buf) >= 4 and len(buf) >= 4 + int.from_bytes(buf[:4], "big"):
                        size = int.from_bytes(buf[:4], "big")
                        frame = pb.ServerFrame.FromString(bytes(buf[4:4 + size]))
                        del buf[:4 + size]
                        for h in frame.host_calls:
                            self.host_calls.put(h)
                        for r in frame.replies:
                            self._out.put(r)
                    chunk = self.sock.recv(1 << 20)
                    if not chunk:
                        break
                    buf += chunk
            except OSError as e:
                self._out.put(e)
            self._out.put(None)

        threading.Thread(target=write, daemon=True).start()
        threading.Thread(target=read, daemon=True).start()

    def cancel_stream(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


# No test may hang the suite: one still running after this long prints every thread's stack
# and ends the run, so a stuck read or lock shows where it is instead of stalling CI.
TEST_HANG_LIMIT_S = 180


_REAL_STDERR = sys.stderr


def pytest_configure(config):
    # The run's own stderr, kept while capture is off: a dump written to the captured stream
    # is lost when faulthandler ends the run.
    global _REAL_STDERR
    _REAL_STDERR = os.fdopen(os.dup(2), "w")


def pytest_unconfigure(config):
    # The same bound for the interpreter's exit, which waits for threads tests left behind.
    faulthandler.dump_traceback_later(60, exit=True, file=_REAL_STDERR)


@pytest.fixture(autouse=True)
def hang_limit():
    faulthandler.dump_traceback_later(TEST_HANG_LIMIT_S, exit=True, file=_REAL_STDERR)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def spawn():
    workers: list[Worker] = []

    def start(adapter: str, *extra: str, ready: bool = True, **kw) -> Worker:
        w = Worker(adapter, *extra, **kw)
        workers.append(w)
        if ready:
            w.wait_ready()
        return w

    yield start
    for w in workers:
        w.close()
