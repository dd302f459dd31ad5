import math

import numpy as np
import pytest

from snakepit_bridge import codec


def rt(v):
    j, blobs = codec.encode(v)
    return codec.decode(j, blobs)


def test_scalars_and_nesting():
    v = {"i": 3, "big": 2**63 + 5, "neg": -7, "f": 0.1, "t": True, "n": None, "s": "ü€😀",
         "l": [1, [2, [3, {"k": [None, {}]}]]], "e": [], "o": {}}
    out = rt(v)
    assert out == v
    assert type(out["i"]) is int and type(out["big"]) is int and type(out["f"]) is float


def test_compact_json():
    j, blobs = codec.encode({"a": [1, 2]})
    assert j == b'{"a":[1,2]}' and blobs == []


def test_bytes_top_level_and_nested():
    assert rt(b"\x00\x01") == b"\x00\x01"
    v = {"a": [b"x", {"b": bytearray(b"yy")}, memoryview(b"zzz")], "c": "plain"}
    j, blobs = codec.encode(v)
    assert blobs == [b"x", b"yy", b"zzz"]
    assert rt(v) == {"a": [b"x", {"b": b"yy"}, b"zzz"], "c": "plain"}
    assert rt([b"", b"q"]) == [b"", b"q"]


def test_bytes_marker_only_with_blobs():
    # Without blobs the JSON is returned as is, even if it looks like a marker.
    assert codec.decode(b'{"$bytes":0}', []) == {"$bytes": 0}
    # A marker needs exactly one key and an int index.
    assert codec.decode(b'{"$bytes":0,"x":1}', [b"a"]) == {"$bytes": 0, "x": 1}
    assert codec.decode(b'{"$bytes":"0"}', [b"a"]) == {"$bytes": "0"}


def test_numpy_sets_tuples():
    out = rt({"arr": np.arange(4).reshape(2, 2), "s": np.float32(1.5), "i": np.int64(7), "t": (1, 2), "set": {3}})
    assert out == {"arr": [[0, 1], [2, 3]], "s": 1.5, "i": 7, "t": [1, 2], "set": [3]}
    assert type(out["i"]) is int


def test_nan_and_infinity_are_refused():
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match="NaN or Infinity"):
            codec.encode({"x": [bad]})


def test_unknown_type_names_the_type():
    class Model:
        pass

    with pytest.raises(TypeError, match="Model"):
        codec.encode({"m": Model()})


def test_empty_json_decodes_to_none():
    assert codec.decode(b"", []) is None
