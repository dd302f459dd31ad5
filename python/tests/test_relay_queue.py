"""The process-profile server's call queue on its own (relay_queue.py), with workers and sessions
that record what reaches them: which call goes to which worker and in what order, what frees a
worker, and what a call still waiting is answered. test_serve.py runs it with real processes."""
from __future__ import annotations

import json

from snakepit_bridge import wire
from snakepit_bridge.relay_queue import CallQueue, Job


class RecordingWorker:
    def __init__(self, index: int) -> None:
        self.index = index
        self.next_id = 1
        self.job = None
        self.fs = object()  # connected
        self.sent: list = []

    def send(self, frame) -> None:
        self.sent.append(frame)

    def calls(self) -> list[tuple[int, str]]:
        """(worker's call id, tool) of every call it was given."""
        return [(call.id, call.tool) for frame in self.sent for call in frame.calls]


class RecordingSession:
    def __init__(self) -> None:
        self.finished: list = []
        self.partial: list = []

    def finish(self, reply: bytes) -> None:
        self.finished.append(wire.Reply.FromString(reply))

    def put(self, reply: bytes) -> None:
        self.partial.append(wire.Reply.FromString(reply))


def submit(calls: CallQueue, session: RecordingSession, node_id: int, tool: str = "t") -> None:
    calls.submit(Job(session, wire.Call(id=node_id, tool=tool), None, None))


def answer(calls: CallQueue, worker: RecordingWorker, worker_call_id: int, value) -> None:
    reply = wire.Reply(id=worker_call_id, result=wire.Value(json=json.dumps(value).encode()))
    calls.from_worker(worker, wire.ServerFrame(replies=[reply]))


def test_calls_wait_in_order_for_a_free_worker_and_each_reply_goes_back_under_the_sessions_id():
    calls, session = CallQueue(), RecordingSession()
    worker = RecordingWorker(1)
    for node_id, tool in [(10, "a"), (20, "b"), (30, "c")]:
        submit(calls, session, node_id, tool)
    assert worker.calls() == [] and calls.in_flight() == 3

    calls.add_worker(worker)
    calls.pump()
    assert worker.calls() == [(1, "a")], "one call at a time, the oldest first"
    answer(calls, worker, 1, "A")
    assert worker.calls() == [(1, "a"), (2, "b")], "a final reply frees the worker for the next call"
    answer(calls, worker, 2, "B")
    answer(calls, worker, 3, "C")
    assert [(r.id, json.loads(r.result.json)) for r in session.finished] == [(10, "A"), (20, "B"), (30, "C")]
    assert calls.in_flight() == 0


def test_a_reply_that_is_not_final_passes_on_and_keeps_the_worker():
    calls, session = CallQueue(), RecordingSession()
    worker = RecordingWorker(1)
    calls.add_worker(worker)
    submit(calls, session, 7, "stream")
    submit(calls, session, 8)
    calls.from_worker(worker, wire.ServerFrame(replies=[wire.Reply(id=1, chunk=wire.Value(json=b"1"))]))
    assert [r.id for r in session.partial] == [7] and session.finished == []
    assert worker.calls() == [(1, "stream")]
    calls.from_worker(worker, wire.ServerFrame(replies=[wire.Reply(id=1, end=True)]))
    assert worker.calls() == [(1, "stream"), (2, "t")]


def test_a_call_still_waiting_is_dropped_and_one_running_is_cancelled_on_its_worker():
    calls, session = CallQueue(), RecordingSession()
    worker = RecordingWorker(1)
    calls.add_worker(worker)
    submit(calls, session, 1)
    submit(calls, session, 2)
    assert calls.drop_unstarted(session, 2, cancel=True) is True
    assert calls.drop_unstarted(session, 1, cancel=False) is False, "running: a reclaim cannot take it back"
    assert [frame.cancels for frame in worker.sent if frame.cancels] == []
    assert calls.drop_unstarted(session, 1, cancel=True) is False
    assert [list(frame.cancels) for frame in worker.sent if frame.cancels] == [[1]]
    answer(calls, worker, 1, None)
    assert worker.calls() == [(1, "t")], "the dropped call never reached a worker"


def test_a_worker_that_dies_gets_no_more_calls_and_its_running_call_is_handed_back():
    calls, session = CallQueue(), RecordingSession()
    busy, free = RecordingWorker(1), RecordingWorker(2)
    calls.add_worker(busy)
    submit(calls, session, 1)
    calls.add_worker(free)
    job = calls.worker_gone(busy)
    assert job is not None and job.node_id == 1 and busy.fs is None
    assert calls.worker_gone(free) is None and free.fs is None
    submit(calls, session, 2)
    assert busy.calls() == [(1, "t")] and free.calls() == [], "neither gets a call once gone"
    assert calls.in_flight() == 1


def test_once_closed_the_waiting_calls_and_every_later_one_are_answered_draining():
    calls, first, second = CallQueue(), RecordingSession(), RecordingSession()
    submit(calls, first, 1)
    submit(calls, second, 2)
    calls.close()
    submit(calls, first, 3)
    assert [(r.id, r.error.code) for r in first.finished] == [(1, "DRAINING"), (3, "DRAINING")]
    assert [(r.id, r.error.code) for r in second.finished] == [(2, "DRAINING")]
    assert calls.in_flight() == 0


def test_a_session_that_ends_loses_its_waiting_calls_and_its_running_ones_are_cancelled():
    calls, gone, other = CallQueue(), RecordingSession(), RecordingSession()
    worker = RecordingWorker(1)
    calls.add_worker(worker)
    submit(calls, gone, 1, "gone-1")
    submit(calls, gone, 2, "gone-2")
    submit(calls, other, 3, "other-3")
    calls.session_ended(gone)
    assert [list(frame.cancels) for frame in worker.sent if frame.cancels] == [[1]]
    answer(calls, worker, 1, None)
    assert worker.calls() == [(1, "gone-1"), (2, "other-3")], "the other session's call runs next; the ended one's never"
