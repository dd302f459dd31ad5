"""The thread profile on the local lane (lanethreads.py): the thread that reads a call runs it,
and the reading moves to another thread when the call runs long. These drive a real worker's
socket and check what that must not break: pings answered while every slot is busy, cancels
and reclaims of queued calls, Node's answers to ctx.call reaching a tool while the reader's role
moves, and exactly one final reply per call under random cancels."""
import json
import random
import time

from snakepit_bridge import codec
from snakepit_bridge import wire as pb
from test_lane import Lane, local

FINAL = ("result", "error", "end")


def thread_worker(spawn, threads, adapter="sample_adapters.Threaded"):
    w = local(spawn, adapter, profile="thread", threads=threads)
    return w, Lane(w, token=w.token.encode())


def test_pings_are_answered_while_every_slot_runs_a_long_call(spawn):
    w, node = thread_worker(spawn, 2)
    node.send(pb.ClientFrame(calls=[node.call(i, "sleep", {"seconds": 2}) for i in (1, 2)]))
    time.sleep(0.3)
    sent = time.monotonic()
    node.send(pb.ClientFrame(pings=[5]))
    [(kind, seq, pong)] = node.events(1)
    assert (kind, seq) == ("pong", 5)
    assert time.monotonic() - sent < 1.0  # not after the sleeps
    assert pong.in_flight == 2
    assert sorted(i for k, i, _ in node.events(2)) == [1, 2]


def test_a_ping_is_answered_while_the_reader_itself_runs_a_long_call(spawn):
    w, node = thread_worker(spawn, 4)
    node.send(pb.ClientFrame(calls=[node.call(1, "sleep", {"seconds": 2})]))  # read and run by one thread
    time.sleep(0.3)
    sent = time.monotonic()
    node.send(pb.ClientFrame(pings=[6], calls=[node.call(2, "sleep", {"seconds": 0})]))
    first_two = node.events(2)
    assert {(k, i) for k, i, _ in first_two} == {("pong", 6), ("result", 2)}
    assert time.monotonic() - sent < 1.0
    assert [(k, i) for k, i, _ in node.events(1)] == [("result", 1)]


def test_a_queued_call_is_cancelled_or_reclaimed_at_once_and_never_runs(spawn):
    w, node = thread_worker(spawn, 1)
    node.send(pb.ClientFrame(calls=[node.call(1, "sleep", {"seconds": 1.5}), node.call(2, "bump"), node.call(3, "bump")]))
    time.sleep(0.3)
    sent = time.monotonic()
    node.send(pb.ClientFrame(cancels=[2], reclaims=[3]))
    answers = {i: r for _, i, r in node.events(2)}
    assert time.monotonic() - sent < 1.0  # while call 1 still runs
    assert answers[2].error.code == "CANCELLED" and answers[3].error.code == "UNSTARTED"
    assert [(k, i) for k, i, _ in node.events(1)] == [("result", 1)]
    node.send(pb.ClientFrame(calls=[node.call(4, "counter_value")]))
    [(_, _, reply)] = node.events(1)
    assert json.loads(reply.result.json) == 0  # neither bump ran


def test_answers_to_ctx_call_reach_their_tools_while_the_reading_moves(spawn):
    w, node = thread_worker(spawn, 3, "context_adapters.ThreadedContextual")
    pending = {}  # host call id -> the value to answer with
    replies = {}
    # Each asks Node once; meanwhile short calls keep the reader's role moving between threads.
    node.send(pb.ClientFrame(calls=[node.call(i, "ask_node", {"name": "twice", "x": i}) for i in (1, 2)]))
    next_id = 10
    while len(replies) < 2:
        frame = node.read()
        assert frame is not None
        for h in frame.host_calls:
            pending[h.id] = codec.decode(h.args.json, h.args.blobs)["x"] * 2
        for r in frame.replies:
            if r.id < 10:
                replies[r.id] = r
        calls = [node.call(next_id, "pid")]
        next_id += 1
        answers = [pb.HostReply(id=hid, result=pb.Value(json=json.dumps(v).encode())) for hid, v in pending.items()]
        if len(pending) == 2:  # both wait: answer them now, behind a short call
            pending.clear()
        else:
            answers = []
        node.send(pb.ClientFrame(calls=calls, host_replies=answers))
    assert {i: json.loads(r.result.json) for i, r in replies.items()} == {1: 2, 2: 4}


def test_every_call_gets_exactly_one_final_reply_under_random_cancels(spawn):
    w, node = thread_worker(spawn, 8, "context_adapters.ThreadedContextual")
    rng = random.Random(23)
    total, sent, finals, pongs = 600, 0, {}, set()
    while len(finals) < total:
        if sent < total:
            batch = [node.call(sent + i + 1, "cooperative", {"seconds": rng.choice((0, 0, 0.001, 0.02)), "label": "r"})
                     for i in range(min(rng.randint(1, 12), total - sent))]
            sent += len(batch)
            cancels = rng.sample(range(1, sent + 3), rng.randint(0, 4))  # queued, running, done or not sent yet
            node.send(pb.ClientFrame(calls=batch, cancels=cancels, pings=[sent]))
        frame = node.read()
        assert frame is not None, w.stderr_text()
        pongs.update(p.seq for p in frame.pongs)
        for r in frame.replies:
            kind = r.WhichOneof("outcome")
            if kind in FINAL:
                assert r.id not in finals, f"call {r.id} answered twice"
                assert kind == "result" or r.error.code == "CANCELLED", r
                finals[r.id] = kind
    assert sorted(finals) == list(range(1, total + 1))
    node.send(pb.ClientFrame(pings=[0]))
    while 0 not in pongs:
        frame = node.read()
        assert frame is not None and not frame.replies  # nothing answered twice after the last
        pongs.update(p.seq for p in frame.pongs)
