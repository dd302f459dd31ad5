"""Value codec: JSON text plus out-of-band byte blobs.

Bytes inside a value travel as {"$bytes": i} with blobs[i] holding them, so nothing is
base64-encoded or pickled and ints stay ints. A user's own key of the form $…$bytes travels with
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
from typing import Any

_tls = threading.local()  # the blob list of the encode running on this thread


def _hook(o: Any) -> Any:
    if isinstance(o, (bytes, bytearray, memoryview)):
        blobs = _tls.blobs
        blobs.append(bytes(o))
        return {"$bytes": len(blobs) - 1}
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    np = sys.modules.get("numpy")  # only if the tool already imported it
    if np is not None:
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, np.generic):
            return o.item()
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
            if _KEY_HINT not in data:
                return data, _NO_BLOBS
            escaped = _escape_keys(obj)
            return (data if escaped is obj else "".join(_c_encode(escaped, 0)).encode()), _NO_BLOBS
        except (TypeError, ValueError, RecursionError):
            pass
    obj = _escape_keys(obj)
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
    """Blob markers become bytes; escaped user keys lose their extra "$"."""
    if isinstance(o, dict):
        if len(o) == 1:
            i = o.get("$bytes")
            if type(i) is int and 0 <= i < len(blobs):
                return bytes(blobs[i])
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


def _escape_keys(o: Any) -> Any:
    """`o` with every $…$bytes key given one more "$"; the same object when there is none."""
    if isinstance(o, dict):
        items = [(k, _escape_keys(v)) for k, v in o.items()]
        changed = any(v is not o[k] or (type(k) is str and _USER_KEY.fullmatch(k)) for k, v in items)
        if not changed:
            return o
        return {("$" + k if type(k) is str and _USER_KEY.fullmatch(k) else k): v for k, v in items}
    if isinstance(o, (list, tuple)):
        items = [_escape_keys(v) for v in o]
        return items if any(a is not b for a, b in zip(items, o)) else o
    return o
