"""The local lane: Session frames over a Unix-domain socket, without gRPC or HTTP/2.

Each frame on the socket is a 4-byte big-endian length and then a ClientFrame (from Node) or a
ServerFrame (to Node), the same messages the gRPC Session stream carries. The first frame of a
connection must carry the worker's token (compared in constant time), else the connection is
closed. A length over the worker's limit, or bytes that do not decode, end the worker with
status 70 as on the gRPC lane: nothing after them on that socket can be trusted.

Process profile (LaneProcessSession): the main thread reads a frame and runs its calls inline,
writing each reply straight to the socket, so a call costs no thread hand-off. While a call
runs nobody would read the socket, so a watcher thread that checks every WATCH_INTERVAL_S takes
over reading once a call has been running that long: it answers pings, applies cancels (to
queued calls and running streams) and queues new calls, and hands reading back when the call
ends. Short calls never wake it; a tool that calls Node (ctx.call) wakes it at once, so the
reply is read while the tool waits. Thread profile: lanethreads.py.
"""
from __future__ import annotations

import os
import threading
from collections import deque

# The C socket type: `socket` builds enums at import, milliseconds of every worker's start.
import _socket

from .context import HostCalls
from .credit import Credits
from .runner import CallRunner, cancelled_reply
from .framesocket import FrameError, FrameSocket, Gone
from .idlewait import IdleWait
from .parts import PartialCalls
from .started import StartedCalls, Unrecorded
from .tokens import same_token
from .session import BadFrame, FrameHandling, InFlight, client_frame_or_exit, decode_client_frame, exit_to_be_replaced, fatal, with_context

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

# Until a connection has shown the token it may send only this much, and a frame error from it
# closes that connection rather than ending the worker.
UNAUTHENTICATED_FRAME_BYTES = 4096
TOKEN_WAIT_S = 10.0
# How long a call runs before the watcher takes over reading (heartbeats, cancels).
WATCH_INTERVAL_S = 0.02


class LaneServer:
    """Listens on the worker's socket until Node's connection shows the token, then serves it.

    Connections before it that do not show the token are closed; once it is in, the socket
    stops listening and its path is removed, so no other process can connect at all. When it
    ends the worker serves nothing more and waits to be stopped, as a gRPC worker does once its
    Session ends.
    """

    def __init__(self, path: str, token: bytes, max_frame: int, make_session: Callable[[FrameSocket], Any]):
        self.path = path
        self.token = token
        self.max_frame = max_frame
        self.make_session = make_session
        self.listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(4)
        self._stopped = threading.Event()

    def wait_for_termination(self) -> None:
        conn, first = self._accept_authenticated()
        self.listener.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass
        try:
            fs = FrameSocket(conn, self.max_frame)
            fs._buf = first[1]  # frames that followed the token's frame
            self.make_session(fs).serve(first[0])
        except Gone:
            pass
        finally:
            conn.close()
        self._stopped.wait()

    def _accept_authenticated(self):
        while True:
            fd, _ = self.listener._accept()  # accept4, close-on-exec: socket.accept()'s own call
            conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0, fd)
            first = self._authenticate(conn)
            if first is not None:
                return conn, first
            conn.close()

    def _authenticate(self, conn: _socket.socket):
        """(first frame, bytes read after it) if the first frame carries the token, else None."""
        probe = FrameSocket(conn, UNAUTHENTICATED_FRAME_BYTES)
        conn.settimeout(TOKEN_WAIT_S)
        try:
            raw = probe.read()
            frame = decode_client_frame(raw) if raw is not None else None
        except (FrameError, BadFrame, OSError):
            return None
        finally:
            conn.settimeout(None)
        if frame is None or not same_token(bytes(frame.token), self.token):
            return None
        return frame, probe._buf

    def stop(self, _grace=None) -> None:
        self._stopped.set()


class LaneProcessSession(FrameHandling):
    """Process profile: calls run inline on the main thread; see the module's note."""

    def __init__(self, fs: FrameSocket, runner: CallRunner, in_flight: InFlight, pong: Callable[[int], bytes], idle_poll_s: float = 0.0,
                 started: StartedCalls | Unrecorded = Unrecorded()):
        self.fs = fs
        self.started = started
        self.runner = runner
        self.in_flight = in_flight
        self.pong = pong
        self.cancelled: set[int] = set()  # cancels of calls not yet come, or streaming
        self.queue: deque = deque()  # (call, args, deadline) ready to run, in order; touched under the baton
        self.partial = PartialCalls(runner.max_message)
        fs.part_sink = self.partial
        fs.idle = IdleWait(idle_poll_s) if idle_poll_s > 0 else None
        self.baton = threading.Lock()  # whoever holds it reads the socket
        self.running = False
        self.watching = False
        self.ended = False
        self.eof = False
        self.wake_r, self.wake_w = os.pipe()
        self.poke = threading.Event()  # the watcher should read now, not at its next interval
        self.host = HostCalls(fs.write, runner.max_message, self.poke.set)
        self.credits = Credits(self.poke.set)

    def serve(self, first) -> None:
        watcher = threading.Thread(target=self._watch, name="snakepit-lane-watcher", daemon=True)
        try:
            self.baton.acquire()
            watcher.start()
            self._take(first)
            while True:
                self._run_queued()
                frame = self.fs.next_frame()
                if frame is None:
                    return
                self._take(frame)
        except (Gone, KeyboardInterrupt):
            raise  # SIGINT stops the worker as on the gRPC lane (worker.main), not as a failure
        except FrameError as e:
            exit_to_be_replaced(str(e))
        except BaseException:  # noqa: BLE001
            fatal("the local lane's process session")
        finally:
            self.ended = True
            self.host.close()
            self.credits.release()
            self.poke.set()
            os.write(self.wake_w, b"x")
            if watcher.is_alive():
                if self.baton.locked() and not self.watching:
                    self.baton.release()
                watcher.join()
            os.close(self.wake_r)
            os.close(self.wake_w)

    # FrameHandling's _take applies a frame; it is called holding the baton.
    def _send(self, reply) -> None:
        self.fs.write_reply(reply)

    def _pong(self, seq: int) -> None:
        self.fs.write(self.pong(seq))

    def _drop_unstarted(self, cid: int, cancel: bool) -> bool:
        queued = next((entry for entry in self.queue if entry[0].id == cid), None)
        if queued is not None:
            self.queue.remove(queued)
            return True
        if cancel:
            self.cancelled.add(cid)  # running (a stream notices), or not come yet
        return False

    def _accept(self, ready: list) -> None:
        self.queue.extend(ready)

    def _run_queued(self) -> None:
        d, cancelled, write = self.runner, self.cancelled, self.fs.write_reply
        while self.queue:
            call, args, deadline = self.queue.popleft()
            cid = call.id
            if cid in cancelled:
                cancelled.discard(cid)
                write(cancelled_reply(cid))
                continue
            tool, kwargs = d.prepare(call, args)
            if tool is None:
                write(kwargs)
                continue
            if tool.wants_ctx:
                with_context(kwargs, tool, call, deadline, lambda cid=cid: cid in cancelled, write, self.host)
            self.started.started(cid)
            self.in_flight.value += 1
            self.running = True
            self.baton.release()
            try:
                if call.stream:
                    room = self.credits.open(cid, call.window)
                    try:
                        for reply in d.run_stream(cid, tool, kwargs, lambda: cid in cancelled, room):
                            write(reply)
                    finally:
                        self.credits.close(cid)
                else:
                    write(d.run_unary(cid, tool, kwargs))
            finally:
                self.in_flight.value -= 1
                self.running = False
                if self.watching:
                    os.write(self.wake_w, b"x")
                self.baton.acquire()
            if cancelled:
                # Ids only grow: cancels of calls up to this one can no longer matter.
                for old in [c for c in cancelled if c <= cid]:
                    cancelled.discard(old)

    def _watch(self) -> None:
        try:
            while not self.ended:
                self.poke.wait(WATCH_INTERVAL_S)
                self.poke.clear()
                if not self.running or self.eof or not self.baton.acquire(blocking=False):
                    continue
                try:
                    self.watching = True
                    self._read_while_running()
                finally:
                    self.watching = False
                    self.baton.release()
        except Gone:
            return  # the main thread sees it too
        except FrameError as e:
            exit_to_be_replaced(str(e))
        except BaseException:  # noqa: BLE001
            fatal("the local lane's watcher")

    def _read_while_running(self) -> None:
        while self.running and not self.ended:
            raw = self.fs.buffered()
            if raw is not None:
                frame = client_frame_or_exit(raw)
            else:
                if self.wake_r in self.fs.readable(self.wake_r):
                    os.read(self.wake_r, 4096)
                    continue
                frame = self.fs.next_frame()
                if frame is None:
                    self.eof = True
                    self.credits.release()
                    return
            self._take(frame)
