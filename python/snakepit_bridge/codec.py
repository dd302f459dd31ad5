"""Value codec: JSON text plus out-of-band byte blobs.

Bytes inside a value travel as {"$bytes": i} with blobs[i] holding them, so nothing is
base64-encoded or pickled and ints stay ints. A typed blob adds its type: {"$bytes": i,
"dtype": d, "shape": [...]} is an array of `d` (float32, int64, …) whose raw little-endian
data is blobs[i] (a NumPy array one way, a JS typed array the other), and {"$bytes": i,
"dtype": "bigint"} an int beyond ±(2^53 − 1), which a JS number cannot hold exactly, as its
decimal digits. An array argument arrives writable (see _typed). A user's own key of the form
$…$bytes travels with one more "$" (both directions), so user data can never pass for that
marker. The common case (no bytes, no such key) is one C-level json.dumps / json.loads with no
extra walk.

It is built on `_json`, the C half of `json`, directly: the `json` package imports `re` and with
it `enum`, milliseconds of every worker's start-up that plain values never use. The full path
(bytes, NumPy values, escaped keys, errors) loads `json` the first time it is taken.
"""
from __future__ import annotations

import sys
import threading
from _json import encode_basestring_ascii, make_encoder, make_scanner

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_tls = threading.local()  # the blob list of the encode running on this thread

# Ints JS numbers hold exactly; beyond them an int travels as a "bigint" typed blob.
SAFE_INT = 2**53 - 1
# Array dtypes that travel as raw data, and the JS typed array each becomes.
ARRAY_DTYPES = ("float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool")


class _BigInt:
    __slots__ = ("value",)

    def __init__(self, value: int):
        self.value = value


def _blob(data: Any, **typed: Any) -> dict:
    blobs = _tls.blobs
    blobs.append(data)
    return {"$bytes": len(blobs) - 1, **typed}


def _array(np: Any, a: Any) -> Any:
    """A NumPy array as a typed blob of its raw data, or as nested lists if JS has no typed
    array for its dtype (strings, objects, complex); float16 goes as float32."""
    if a.dtype == np.float16:
        a = a.astype(np.float32)
    name = a.dtype.name
    if name not in ARRAY_DTYPES:
        return _prepare(a.tolist())  # an object array may hold big ints and dicts
    data = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    raw = memoryview(data).cast("B") if data.size else b""  # a view with a 0 in its shape cannot be cast
    return _blob(raw, dtype=name, shape=list(a.shape))


def _hook(o: Any) -> Any:
    if isinstance(o, (bytes, bytearray, memoryview)):
        return _blob(bytes(o))
    if isinstance(o, _BigInt):
        return _blob(str(o.value).encode(), dtype="bigint")
    if isinstance(o, (set, frozenset, tuple)):
        return _prepare(list(o))  # its big ints and marker keys, which _prepare did not see
    np = sys.modules.get("numpy")  # only if the tool already imported it
    if np is not None:
        if isinstance(o, np.ndarray):
            return _array(np, o)
        if isinstance(o, np.generic):
            item = o.item()
            return _BigInt(item) if type(item) is int and not -SAFE_INT <= item <= SAFE_INT else item
    raise TypeError(
        f"cannot send a value of type {type(o).__module__}.{type(o).__qualname__}: "
        "tool results must be JSON values (dict, list, str, int, float, bool, None), bytes or NumPy arrays"
    )


_full_encoder: Any = None  # json.JSONEncoder with _hook, made the first time the full path runs


def _encode_full(obj: Any) -> str:
    global _full_encoder
    if _full_encoder is None:
        import json

        _full_encoder = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=_hook)
    return _full_encoder.encode(obj)


_NO_BLOBS: list[bytes] = []


def _is_marker_key(k: Any, dollars: int) -> bool:
    """Whether `k` is "bytes" after at least `dollars` "$" and nothing else: the user's keys of
    that form travel with one more "$" (dollars 1 on the way out, 2 on the way in)."""
    return type(k) is str and len(k) >= 5 + dollars and k.endswith("bytes") and not k[:-5].strip("$")


# Every key the escaping concerns ends in `bytes"` in JSON text; most values never contain it.
_KEY_HINT = b'bytes"'
# An int beyond SAFE_INT has at least 16 digits; most values have no such run of digits. Mapped
# to "1" for a digit and "0" for anything else, a value has one where this run appears.
_DIGIT_RUN = b"1" * 16
_DIGITS = bytes(0x31 if 0x30 <= i <= 0x39 else 0x30 for i in range(256))


_big_int_pattern: Any = None  # compiled the first time a run of 16 digits is seen


def _may_hold_big_int(data: bytes) -> bool:
    """Whether `data` has a JSON int of 16 or more digits. The run of digits is checked first
    (no `re` at start-up); a float's digits (next to "." or an exponent) are not an int, so a
    list of floats, whose repr often has 16 digits and more, stays on the fast path."""
    global _big_int_pattern
    if len(data) < 16 or _DIGIT_RUN not in data.translate(_DIGITS):
        return False
    if _big_int_pattern is None:
        import re

        _big_int_pattern = re.compile(rb"(?<![\d.])\d{16,}(?![\d.eE])")
    return _big_int_pattern.search(data) is not None


def _not_plain(o: Any) -> Any:
    raise TypeError(type(o).__name__)


# Every call's arguments and result pass through here, so plain values (the common case) go
# straight to the C encoder and scanner: json.dumps/json.loads add several Python-level calls
# each. Anything else — bytes, NumPy values, sets, NaN, cycles — takes the full path below.
_c_encode = make_encoder(None, _not_plain, encode_basestring_ascii, None, ":", ",", False, False, False)


class _ScanOptions:
    """What the C scanner reads of a json.JSONDecoder() made with no options."""

    strict = True
    object_hook = object_pairs_hook = None
    parse_float, parse_int = float, int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__


_c_scan = make_scanner(_ScanOptions())
_c_encode_line = make_encoder(None, str, encode_basestring_ascii, None, ":", ",", False, False, True)


def line_text(msg: dict) -> str:
    """`msg` as json.dumps(msg, separators=(",", ":"), default=str) writes it: a control line."""
    return "".join(_c_encode_line(msg, 0))


def encode(obj: Any) -> tuple[bytes, list[bytes]]:
    """Python value -> (UTF-8 JSON, blobs)."""
    try:
        data = "".join(_c_encode(obj, 0)).encode()
        if _KEY_HINT not in data and not _may_hold_big_int(data):
            return data, _NO_BLOBS
    except (TypeError, ValueError, RecursionError):
        pass
    blobs: list[bytes] = []
    _tls.blobs = blobs
    try:
        text = _encode_full(_prepare(obj))
    except ValueError as e:
        if "Out of range float" in str(e):
            raise ValueError(f"the value contains NaN or Infinity, which JSON cannot carry ({e})") from None
        raise
    except RecursionError:
        # `from None`: the recursion's own traceback is thousands of lines of this module.
        raise ValueError("the value contains itself (a reference cycle) or is nested too deeply to send; send a tree of plain values") from None
    return text.encode(), blobs


def decode(raw: bytes, blobs: Any = ()) -> Any:
    """(UTF-8 JSON, blobs) -> Python value; {"$bytes": i} becomes blobs[i] as bytes."""
    if not raw:
        return None
    obj = loads(raw)
    if (blobs and b'"$bytes"' in raw) or b'$$bytes"' in raw:
        obj = _restore(obj, blobs)
    return obj


def loads(raw: bytes) -> Any:
    """JSON bytes without blobs -> Python value (the fast path of decode)."""
    text = raw.decode()
    try:
        obj, end = _c_scan(text, 0)
        if end == len(text):
            return obj
    except StopIteration:
        pass
    import json

    return json.loads(text)  # surrounding whitespace, or the proper error for bad JSON


def _restore(o: Any, blobs: Any) -> Any:
    """Blob markers become bytes (typed ones arrays and ints); escaped user keys lose their extra "$"."""
    if isinstance(o, dict):
        if len(o) <= 3 and "$bytes" in o:
            i = o["$bytes"]
            if type(i) is int and 0 <= i < len(blobs):
                if len(o) == 1:
                    return bytes(blobs[i])
                typed = _typed(o, blobs[i])
                if typed is not None:
                    return typed
        if any(_is_marker_key(k, 2) for k in o):
            return {(k[1:] if _is_marker_key(k, 2) else k): _restore(v, blobs) for k, v in o.items()}
        for k, v in o.items():
            if isinstance(v, (dict, list)):
                o[k] = _restore(v, blobs)
        return o
    if isinstance(o, list):
        for idx, v in enumerate(o):
            if isinstance(v, (dict, list)):
                o[idx] = _restore(v, blobs)
    return o


def _typed(marker: dict, blob: Any) -> Any:
    """A typed blob's value, or None if `marker` is not a well-formed one (then left as is)."""
    dtype = marker.get("dtype")
    if dtype == "bigint" and len(marker) == 2:
        return int(bytes(blob))
    shape = marker.get("shape")
    if dtype not in ARRAY_DTYPES or not isinstance(shape, list) or len(marker) != 3:
        return None
    # Arrays that arrive are writable (torch.from_numpy warns on a read-only one). A large call's
    # blob is a buffer of its own, taken as it is; a blob read inline with its frame (a call's
    # arguments up to 1 MiB, a relayed call's, a ctx.call reply) is `bytes`, copied once.
    inline = type(blob) is not BufferBlob
    try:
        import numpy as np  # an array argument is where a tool expects NumPy
    except ImportError:
        view = memoryview(bytearray(blob) if inline else blob.writable())
        fmt = _MEMORYVIEW_FORMATS[dtype]
        # A memoryview cannot have a 0 in its shape: an empty array arrives 1-D.
        return view.cast(fmt, shape) if view.nbytes else view.cast(fmt)
    array = np.frombuffer(blob if inline else blob.writable(), dtype=np.dtype(dtype).newbyteorder("<"))
    return (array.copy() if inline else array).reshape(shape)


class BufferBlob:
    """A blob received into a buffer of its own (a large call's, parts.py): bytes() gives that
    buffer as `bytes` and an array gets it writable, neither by copying it."""

    __slots__ = ("_io",)

    def __init__(self, io: Any):
        self._io = io  # an io.BytesIO holding the blob, with no view of it left

    def __bytes__(self) -> bytes:
        return self._io.getvalue()

    def writable(self) -> memoryview:
        return self._io.getbuffer()


# struct formats for memoryview.cast, when NumPy is not installed.
_MEMORYVIEW_FORMATS = {"float32": "f", "float64": "d", "int8": "b", "int16": "h", "int32": "i", "int64": "q",
                       "uint8": "B", "uint16": "H", "uint32": "I", "uint64": "Q", "bool": "?"}


def _prepare(o: Any) -> Any:
    """`o` with every $…$bytes key given one more "$" and every int beyond SAFE_INT wrapped for
    the encoder's hook; the same object when nothing changes."""
    if isinstance(o, dict):
        items = [(k, _prepare(v)) for k, v in o.items()]
        changed = any(v is not o[k] or _is_marker_key(k, 1) for k, v in items)
        if not changed:
            return o
        return {("$" + k if _is_marker_key(k, 1) else k): v for k, v in items}
    if isinstance(o, (list, tuple)):
        items = [_prepare(v) for v in o]
        return items if any(a is not b for a, b in zip(items, o)) else o
    if isinstance(o, int) and not isinstance(o, bool) and not -SAFE_INT <= o <= SAFE_INT:
        return _BigInt(o)
    return o
