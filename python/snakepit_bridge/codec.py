"""Value codec: JSON text plus out-of-band byte blobs.

Bytes inside a value travel as {"$bytes": i} with blobs[i] holding them, so nothing is
base64-encoded or pickled and ints stay ints. A typed blob adds its type: {"$bytes": i,
"dtype": d, "shape": [...]} is an array of `d` (float32, int64, …) whose raw little-endian
data is blobs[i] (a NumPy array one way, a JS typed array the other), and {"$bytes": i,
"dtype": "bigint"} an int beyond ±(2^53 − 1), which a JS number cannot hold exactly, as its
decimal digits. A user's own key of the form $…$bytes travels with
one more "$" (both directions), so user data can never pass for that marker. The common case (no
bytes, no such key) is one C-level json.dumps / json.loads with no extra walk.
"""
from __future__ import annotations

import json
import json.decoder
import re
import json.encoder
import sys
import threading

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
        return a.tolist()
    data = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    return _blob(memoryview(data).cast("B"), dtype=name, shape=list(a.shape))


def _hook(o: Any) -> Any:
    if isinstance(o, (bytes, bytearray, memoryview)):
        return _blob(bytes(o))
    if isinstance(o, _BigInt):
        return _blob(str(o.value).encode(), dtype="bigint")
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
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


_encoder = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=_hook)


_NO_BLOBS: list[bytes] = []

_USER_KEY = re.compile(r"\$+bytes")  # sent with one more "$"
_ESCAPED_KEY = re.compile(r"\$\$+bytes")  # received: drop one "$"
# Every key the escaping concerns ends in `bytes"` in JSON text; most values never contain it.
_KEY_HINT = b'bytes"'
# An int beyond SAFE_INT has at least 16 digits; most values have no such run of digits.
_LONG_DIGITS = re.compile(rb"\d{16}")


def _not_plain(o: Any) -> Any:
    raise TypeError(type(o).__name__)


# Every call's arguments and result pass through here, so plain values (the common case) go
# straight to the C encoder and scanner: json.dumps/json.loads add several Python-level calls
# each. Anything else — bytes, NumPy values, sets, NaN, cycles — takes the full path below.
_c_encode = json.encoder.c_make_encoder and json.encoder.c_make_encoder(
    None, _not_plain, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, False
)
_c_scan = json.decoder.JSONDecoder().scan_once


def encode(obj: Any) -> tuple[bytes, list[bytes]]:
    """Python value -> (UTF-8 JSON, blobs)."""
    if _c_encode:
        try:
            data = "".join(_c_encode(obj, 0)).encode()
            if _KEY_HINT not in data and not _LONG_DIGITS.search(data):
                return data, _NO_BLOBS
        except (TypeError, ValueError, RecursionError):
            pass
    obj = _prepare(obj)
    blobs: list[bytes] = []
    _tls.blobs = blobs
    try:
        text = _encoder.encode(obj)
    except ValueError as e:
        if "Out of range float" in str(e):
            raise ValueError(f"the value contains NaN or Infinity, which JSON cannot carry ({e})") from None
        raise
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
        if any(type(k) is str and _ESCAPED_KEY.fullmatch(k) for k in o):
            return {(k[1:] if _ESCAPED_KEY.fullmatch(k) else k): _restore(v, blobs) for k, v in o.items()}
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
    try:
        import numpy as np  # an array argument is where a tool expects NumPy
    except ImportError:
        view = memoryview(blob)
        return view.cast(_MEMORYVIEW_FORMATS[dtype], shape) if shape else view
    return np.frombuffer(blob, dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape)


# struct formats for memoryview.cast, when NumPy is not installed.
_MEMORYVIEW_FORMATS = {"float32": "f", "float64": "d", "int8": "b", "int16": "h", "int32": "i", "int64": "q",
                       "uint8": "B", "uint16": "H", "uint32": "I", "uint64": "Q", "bool": "?"}


def _prepare(o: Any) -> Any:
    """`o` with every $…$bytes key given one more "$" and every int beyond SAFE_INT wrapped for
    the encoder's hook; the same object when nothing changes."""
    if isinstance(o, dict):
        items = [(k, _prepare(v)) for k, v in o.items()]
        changed = any(v is not o[k] or (type(k) is str and _USER_KEY.fullmatch(k)) for k, v in items)
        if not changed:
            return o
        return {("$" + k if type(k) is str and _USER_KEY.fullmatch(k) else k): v for k, v in items}
    if isinstance(o, (list, tuple)):
        items = [_prepare(v) for v in o]
        return items if any(a is not b for a, b in zip(items, o)) else o
    if isinstance(o, int) and not isinstance(o, bool) and not -SAFE_INT <= o <= SAFE_INT:
        return _BigInt(o)
    return o
