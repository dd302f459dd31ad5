"""Spawning real workers for tests: an inherited control socket, a token, a grpc client."""
from __future__ import annotations

import json
import os
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

import grpc
import pytest

HERE = Path(__file__).resolve().parent
PYTHON_DIR = HERE.parent
ADAPTERS = HERE / "adapters"
# The bridge under test is this source tree, whichever interpreter runs the tests (the dev
# venv's editable install, or an environment of scripts/test-python-range.mjs with none).
sys.path[:0] = [str(PYTHON_DIR), str(ADAPTERS)]

from snakepit_bridge import wire as pb  # noqa: E402


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
        argv = [python or sys.executable, "-u", "-m", "snakepit_bridge", "--adapter", adapter, "--address", self.address,
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
        session = Session(self)
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
            session.call_iter.cancel()
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
