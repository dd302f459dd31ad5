"""µs to read one ClientFrame holding one typical call (id, tool, JSON arguments, deadline) and
touch its fields, with wire.py and, where it is installed, with protobuf itself: the best of
several repeats, as one JSON line. Run by bench/lifecycle.ts with the bench's interpreter."""
import json
import sys
import timeit
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "python"), str(REPO / "python" / "tests")]

from snakepit_bridge import wire  # noqa: E402

FRAME = wire.ClientFrame(calls=[wire.Call(id=12345, tool="add", args=wire.Value(json=b'{"a":1,"b":2}'), timeout_ms=5000)]).SerializeToString()


def per_frame_us(decode) -> float:
    def one():
        call = decode(FRAME).calls[0]
        return call.id, call.tool, call.args.json, call.timeout_ms

    return min(timeit.repeat(one, number=20_000, repeat=9)) / 20_000 * 1e6


out = {"wire": per_frame_us(wire.ClientFrame.FromString)}
try:
    from protobuf_classes import message_class, parse
    from google.protobuf.internal import api_implementation

    pb_frame = message_class("ClientFrame")
    out["protobuf"] = per_frame_us(lambda data: parse(pb_frame, data))
    out["protobufImplementation"] = api_implementation.Type()
except ImportError:
    pass
print(json.dumps(out))
