"""Fuzzing what Node's bytes go through in the worker: the Session's request deserializer
(ClientFrame's decoder) and then the session code that consumes each frame
(calls, large calls' parts, cancels) in both session variants.

Every input must either be refused with a BadFrame that says what was wrong, or be handled:
the session answers every call it can run with exactly the frames Node can read, and its own
code never fails (that would end a real worker with status 70).
"""
from __future__ import annotations

import json
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from snakepit_bridge import BaseAdapter, session, tool
from snakepit_bridge import wire as pb
from snakepit_bridge.adapter import discover_tools
from snakepit_bridge.runner import CallRunner
from snakepit_bridge.frames import _varint
from snakepit_bridge.parts import PartialCalls
from snakepit_bridge.grpcsession import ThreadSession
from snakepit_bridge.session import BadFrame, InFlight, decode_client_frame

SEED = int(os.environ.get("SNAKEPIT_FUZZ_SEED", "8"))
MAX_MESSAGE = 64 * 1024


class Fuzzed(BaseAdapter):
    @tool
    def add(self, a, b):
        return a + b

    @tool
    def echo(self, **value):
        return value

    @tool
    def count3(self):
        yield from range(3)

    @tool
    def fail(self):
        raise ValueError("fails on purpose")


TOOLS = ["add", "echo", "count3", "fail", "nope", "", "ädd"]


def _json(rng: random.Random) -> bytes:
    choice = rng.randrange(6)
    if choice == 0:
        return json.dumps({"a": rng.randrange(-5, 5), "b": rng.randrange(-5, 5)}).encode()
    if choice == 1:
        return json.dumps({"x": [1, None, "s", {"$bytes": rng.randrange(3)}]}).encode()
    if choice == 2:
        return b""
    if choice == 3:
        return b"[1,2]"
    if choice == 4:
        return _random_bytes(rng, rng.randrange(12))
    return b"{}"


def _random_bytes(rng: random.Random, n: int) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(n))  # Random.randbytes is Python 3.9+


def _valid_frame(rng: random.Random) -> bytes:
    calls, parts = [], []
    for _ in range(rng.randrange(4)):
        cid = rng.choice([rng.randrange(1, 50), rng.randrange(1, 2**64)])
        value = pb.Value(json=_json(rng), blobs=[_random_bytes(rng, rng.randrange(6)) for _ in range(rng.randrange(3))])
        if rng.random() < 0.2:
            data = value.SerializeToString()
            size = len(data) if rng.random() < 0.7 else rng.choice([len(data) + 1, MAX_MESSAGE + 1, 2**63])
            calls.append(pb.Call(id=cid, tool=rng.choice(TOOLS), args_size=size, stream=rng.random() < 0.2))
            cut = rng.randrange(len(data) + 1)
            parts += [pb.ArgsPart(id=cid, data=data[:cut]), pb.ArgsPart(id=cid, data=data[cut:])]
        else:
            calls.append(pb.Call(id=cid, tool=rng.choice(TOOLS), args=value, stream=rng.random() < 0.2))
    cancels = [rng.randrange(1, 60) for _ in range(rng.randrange(3))]
    return pb.ClientFrame(calls=calls, cancels=cancels, parts=parts).SerializeToString()


def _inputs(rng: random.Random, count: int) -> list[tuple[str, bytes]]:
    """Random bytes, valid frames, and valid frames truncated, flipped and with lengths that lie."""
    out: list[tuple[str, bytes]] = []
    kinds = ["random", "valid", "truncated", "flipped", "oversized"]
    for i in range(count):
        kind = kinds[i % len(kinds)]
        if kind == "random":
            out.append((kind, _random_bytes(rng, rng.randrange(48))))
            continue
        data = _valid_frame(rng)
        if kind == "truncated" and data:
            data = data[: rng.randrange(len(data))]
        elif kind == "flipped" and data:
            raw = bytearray(data)
            for _ in range(rng.randrange(1, 4)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            data = bytes(raw)
        elif kind == "oversized":
            key = rng.choice([b"\x0a", b"\x12", b"\x1a"])
            length = rng.choice([len(data) + 1, 2**31, 2**63, 2**64 - 1])
            at = rng.randrange(len(data) + 1)
            data = data[:at] + key + _varint(length) + data[at:]
        out.append((kind, data))
    return out


class _Context:
    def add_callback(self, _callback) -> None:
        pass  # the RPC never ends early here


@pytest.fixture
def no_fatal(monkeypatch):
    """Session code failing would end a real worker; here it is recorded and fails the test."""
    failures: list[str] = []

    def fatal(where: str) -> None:
        import traceback

        failures.append(f"{where}: {traceback.format_exc()}")
        raise AssertionError(f"the session's own code failed in {where}")

    monkeypatch.setattr(session, "fatal", fatal)
    return failures


def _decode_all(inputs):
    frames, refused = [], 0
    for kind, data in inputs:
        try:
            frames.append(decode_client_frame(data))
        except BadFrame as e:
            refused += 1
            message = str(e)
            assert f"a ClientFrame of {len(data)} bytes from Node does not decode" in message, message
            assert kind != "valid", f"a valid frame was refused: {message}"
    return frames, refused


# `cancels: 1`, then an end-group tag that no group opened, then `cancels: 2`.
STOPS_PART_WAY = b"\x10\x01\x0c\x10\x02"


def test_a_frame_that_stops_parsing_part_way_is_refused():
    with pytest.raises(BadFrame, match="a ClientFrame of 5 bytes from Node does not decode"):
        decode_client_frame(STOPS_PART_WAY)


def test_arguments_that_stop_parsing_part_way_fail_their_call():
    data = b"\x0a\x02{}\x0c\x0a\x02{}"  # Value.json, a stray end-group tag, Value.json again
    partial = PartialCalls(MAX_MESSAGE)
    assert partial.start(pb.Call(id=1, tool="echo", args_size=len(data))) is None
    with pytest.raises(ValueError, match="unexpected field key 0xc at byte 4"):  # runnable_calls answers it INVALID_ARGUMENT
        partial.add(pb.ArgsPart(id=1, data=data))


def test_parts_beyond_the_announced_size_fail_their_call():
    partial = PartialCalls(MAX_MESSAGE)
    assert partial.start(pb.Call(id=1, tool="echo", args_size=4)) is None
    with pytest.raises(ValueError, match="more than the 4 bytes the call announced"):
        partial.add(pb.ArgsPart(id=1, data=b"\x0a\x02{}\x0a"))


def _check_replies(out_frames: list[bytes], frames) -> None:
    """Every output is a ServerFrame Node can read, and every inline call got a final reply."""
    finals: set[int] = set()
    for raw in out_frames:
        for reply in pb.ServerFrame.FromString(raw).replies:
            outcome = reply.WhichOneof("outcome")
            assert outcome is not None, reply
            if outcome != "chunk":
                finals.add(reply.id)
    inline = {call.id for frame in frames for call in frame.calls if not call.args_size}
    assert inline <= finals, f"calls without a final reply: {sorted(inline - finals)[:10]}"


def _serve(make_session, frames, timeout: float = 60.0) -> list[bytes]:
    """Runs one session over all frames on a thread, so a hang fails instead of blocking."""
    out: list[bytes] = []
    errors: list[BaseException] = []

    def run():
        try:
            out.extend(make_session().serve(iter(frames), _Context()))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "the session did not finish its frames"
    assert not errors, errors
    return out


def test_fuzzed_client_frames_are_refused_clearly_or_handled(no_fatal):
    rng = random.Random(SEED)
    runner = CallRunner(discover_tools(Fuzzed()), None, MAX_MESSAGE)
    started = time.perf_counter()
    inputs = _inputs(rng, 100_000)
    frames, refused = _decode_all(inputs)

    # The process profile's session (one thread) takes them all; the thread profile's a share.
    one = ThreadPoolExecutor(max_workers=1)
    try:
        process_out = _serve(lambda: ThreadSession(runner, one, InFlight()), frames)
    finally:
        one.shutdown(wait=True)
    _check_replies(process_out, frames)
    threaded = frames[:20_000]
    pool = ThreadPoolExecutor(max_workers=4)
    try:
        thread_out = _serve(lambda: ThreadSession(runner, pool, InFlight()), threaded)
    finally:
        pool.shutdown(wait=True)
    _check_replies(thread_out, threaded)
    elapsed = time.perf_counter() - started

    assert no_fatal == []
    assert len(inputs) >= 100_000
    # Both outcomes happen often, or the inputs would not test much.
    assert refused > 10_000 and len(frames) > 10_000, (refused, len(frames))
    print(
        f"\nClientFrame fuzz (seed {SEED}): {len(inputs)} inputs in {elapsed:.1f} s: {refused} refused as BadFrame, "
        f"{len(frames)} decoded and served by the process session ({len(threaded)} also by the thread session)"
    )
