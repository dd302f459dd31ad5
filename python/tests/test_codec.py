import json
import math
import random
import re

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
    out = rt({"s": np.float32(1.5), "i": np.int64(7), "t": (1, 2), "set": {3}})
    assert out == {"s": 1.5, "i": 7, "t": [1, 2], "set": [3]}
    assert type(out["i"]) is int


def test_arrays_travel_as_raw_data():
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    j, blobs = codec.encode({"a": a})
    assert j == b'{"a":{"$bytes":0,"dtype":"int32","shape":[2,3]}}'
    assert bytes(blobs[0]) == a.tobytes()
    out = codec.decode(j, [bytes(b) for b in blobs])["a"]
    assert out.dtype == np.int32 and out.shape == (2, 3) and np.array_equal(out, a)
    # Not C-contiguous, big-endian, float16: sent as the same values in the wire's layout.
    t = rt(np.arange(6, dtype=">f8").reshape(2, 3).T)
    assert t.dtype == np.float64 and np.array_equal(t, np.arange(6.0).reshape(2, 3).T)
    assert rt(np.array([1.5], dtype=np.float16)).dtype == np.float32
    # Dtypes JS has no typed array for stay nested lists.
    assert rt(np.array(["a", "b"])) == ["a", "b"] and rt(np.array([1 + 2j], dtype=complex).real) is not None


def test_arrays_that_arrive_are_writable_in_their_shape():
    sent = np.arange(24, dtype=np.float32).reshape(4, 3, 2)
    blob = sent.tobytes()
    got = codec.decode(b'{"$bytes":0,"dtype":"float32","shape":[4,3,2]}', [blob])
    assert got.shape == (4, 3, 2) and got.dtype == np.float32 and got.flags.writeable and np.array_equal(got, sent)
    got[0, 0, 0] = 99
    assert blob == sent.tobytes(), "a blob read with its frame is bytes: the array is a copy of it"
    assert rt(got).flags.writeable and np.array_equal(rt(got), got), "a result sent back arrives the same"


def test_arrays_without_numpy_are_writable_memoryviews(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "numpy", None)  # `import numpy` now fails
    view = codec.decode(b'{"$bytes":0,"dtype":"float64","shape":[2]}', [np.array([1.5, 2.5]).tobytes()])
    assert isinstance(view, memoryview) and view.format == "d" and view.tolist() == [1.5, 2.5] and not view.readonly
    cube = codec.decode(b'{"$bytes":0,"dtype":"int16","shape":[4,3,2]}', [np.arange(24, dtype=np.int16).tobytes()])
    assert cube.shape == (4, 3, 2) and cube.format == "h" and cube.tolist() == np.arange(24).reshape(4, 3, 2).tolist()
    cube[3, 2, 1] = -5
    assert cube.tolist()[3][2][1] == -5


def test_empty_and_zero_dimensional_arrays():
    for shape in ((0,), (0, 3), (2, 0, 4), ()):
        a = np.zeros(shape, dtype=np.float32)
        out = rt(a)
        assert out.shape == shape and out.dtype == np.float32 and out.flags.writeable


def test_empty_and_zero_dimensional_arrays_without_numpy(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "numpy", None)
    empty = codec.decode(b'{"$bytes":0,"dtype":"float32","shape":[0,3]}', [b""])
    assert isinstance(empty, memoryview) and empty.format == "f" and empty.tolist() == []
    scalar = codec.decode(b'{"$bytes":0,"dtype":"float64","shape":[]}', [np.float64(2.5).tobytes()])
    assert isinstance(scalar, memoryview) and scalar.shape == () and scalar.tolist() == 2.5


def test_big_ints_and_marker_keys_inside_sets_and_object_arrays():
    out = rt({"s": {2**64}, "f": frozenset([-(2**60)]), "t": (2**70,), "o": np.array([2**65, {"$bytes": 1}], dtype=object)})
    assert out == {"s": [2**64], "f": [-(2**60)], "t": [2**70], "o": [2**65, {"$bytes": 1}]}


def test_big_ints_are_typed_blobs():
    j, blobs = codec.encode({"big": -(2**70), "edge": 2**53 - 1, "flag": True})
    assert j == b'{"big":{"$bytes":0,"dtype":"bigint"},"edge":9007199254740991,"flag":true}'
    assert blobs == [str(-(2**70)).encode()]
    assert rt({"n": [2**64, np.uint64(2**63)]}) == {"n": [2**64, 2**63]}
    # A long run of digits in a string or a float takes the slow path and comes out the same.
    assert rt({"s": "12345678901234567890", "f": 1234567890123456.5}) == {"s": "12345678901234567890", "f": 1234567890123456.5}
    # Malformed typed markers stay plain objects.
    assert codec.decode(b'{"$bytes":0,"dtype":"nope","shape":[1]}', [b"a"]) == {"$bytes": 0, "dtype": "nope", "shape": [1]}


def test_nan_and_infinity_are_refused():
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match="NaN or Infinity"):
            codec.encode({"x": [bad]})


def test_a_cycle_or_too_deep_a_value_is_a_short_error():
    cycle = []
    cycle.append(cycle)
    deep = current = []
    for _ in range(100_000):
        current.append([])
        current = current[0]
    for bad in ({"a": cycle}, deep):
        with pytest.raises(ValueError, match="reference cycle") as info:
            codec.encode(bad)
        assert info.value.__context__ is None or info.value.__suppress_context__


def test_unknown_type_names_the_type():
    class Model:
        pass

    with pytest.raises(TypeError, match="Model"):
        codec.encode({"m": Model()})


def test_empty_json_decodes_to_none():
    assert codec.decode(b"", []) is None


# The codec is built on _json directly, without `json` and `re` (start-up milliseconds); these
# hold its plain checks to the json calls and patterns they stand for.

def test_the_big_int_check_finds_every_int_json_would_write():
    rng = random.Random(7)
    for _ in range(20_000):
        value = [rng.choice([rng.randrange(-(2**70), 2**70), rng.random() * 10 ** rng.randrange(-5, 25), "7" * rng.randrange(30)])
                 for _ in range(rng.randrange(0, 4))]
        data = json.dumps(value).encode()
        expected = any(type(v) is int and not -codec.SAFE_INT <= v <= codec.SAFE_INT for v in value)
        # A 16-digit int within SAFE_INT, or a string of digits, may take the slow path; a big int never the fast one.
        assert codec._may_hold_big_int(data) or not expected, data


def test_floats_with_long_reprs_take_the_fast_path():
    data = json.dumps([0.12345678901234568, 1234567890123456.5, 1.2345678901234567e30]).encode()
    assert not codec._may_hold_big_int(data)


def test_marker_keys_are_the_ones_the_patterns_name():
    rng = random.Random(11)
    sent, received = re.compile(r"\$+bytes"), re.compile(r"\$\$+bytes")
    keys = ["bytes", "$bytes", "$$bytes", "$$$bytes", "$bytes\n", "x$bytes", "$bytesx", "$byte", "$", ""]
    keys += ["".join(rng.choice("$$$bytesx") for _ in range(rng.randrange(0, 10))) for _ in range(20_000)]
    for k in keys:
        assert codec._is_marker_key(k, 1) == (sent.fullmatch(k) is not None), k
        assert codec._is_marker_key(k, 2) == (received.fullmatch(k) is not None), k
    assert not codec._is_marker_key(5, 1)


def test_the_scanner_reads_what_json_loads_reads():
    texts = ['{"a":[1,2.5,-3e400,"\\u00e9\\ud83d\\ude00",true,false,null]}', "NaN", "-Infinity", "Infinity",
             "12345678901234567890", "1e-7", '"x"', "[]", "{}", '{"a":{"b":[{"c":1}]}}', "  [1] ", "\t2\n"]
    for text in texts:
        got, want = codec.loads(text.encode()), json.loads(text)
        assert repr(got) == repr(want), text
    for bad in ["[1,", "{'a':1}", "tru", "[1] x", "\x00"]:
        with pytest.raises(ValueError):
            codec.loads(bad.encode())


def test_control_lines_are_what_json_dumps_writes():
    class Odd:
        def __str__(self):
            return "odd \u00e9"

    messages = [{"type": "ready", "pid": 1, "tools": ["a", "b"], "gil_enabled": True, "x": None},
                {"message": "quote \" backslash \\ newline \n unicode \u00e9 \ud83d\ude00", "n": 1.5, "big": 2**70},
                {"nan": float("nan"), "odd": Odd(), "nested": {"k": [Odd()]}}]
    for msg in messages:
        assert codec.line_text(msg) == json.dumps(msg, separators=(",", ":"), default=str)
