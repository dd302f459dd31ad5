"""The types of an adapter's tools, read from their type hints (`npx snakepit types`).

`python -m snakepit_bridge.tooltypes module.Class` imports the adapter's module (it does not
create the adapter) and prints one JSON object: each tool's parameters and result as a small
type tree that Node renders as TypeScript (src/cli/renderToolTypes.ts). A type tree is a dict
with a "kind": number, integer, string, boolean, null, bytes, unknown, ndarray (with "dtype"),
array ("of"), tuple ("items"), record ("of"), object ("fields"), literal ("value") or union
("of"). What JSON cannot carry, or a hint that says nothing, is "unknown": never a guess; so
is a TypedDict where it recurs within itself (a tree's children).
"""
from __future__ import annotations

import collections.abc as abc
import importlib
import inspect
import json
import math
import os
import sys
import types
import typing

from .adapter import CONTEXT_PARAM, tool_members

UNKNOWN = {"kind": "unknown"}
# The dtypes an array result arrives as (src/wire/codec.ts); float16 arrives as float32.
ARRAY_DTYPES = {"float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool"}
_ARRAY_AS = {"float16": "float32"}

_SCALARS = {int: "integer", float: "number", str: "string", bool: "boolean", bytes: "bytes", bytearray: "bytes",
            memoryview: "bytes", type(None): "null"}
# Containers that travel as JSON arrays (a tuple or set result too), and as JSON objects.
_ARRAYS = {list, set, frozenset, abc.Sequence, abc.MutableSequence, abc.Set, abc.MutableSet, abc.Collection, abc.Iterable}
_MAPPINGS = {dict, abc.Mapping, abc.MutableMapping}
# What a generator tool may say it returns: each value it yields is the first argument.
_STREAMS = {abc.Generator, abc.Iterator, abc.Iterable}
_UNION_TYPES = (types.UnionType,) if hasattr(types, "UnionType") else ()  # int | None, 3.10+
_ANNOTATED = getattr(typing, "Annotated", None)  # 3.9+
# A parameter or return without a hint.
_MISSING = object()
# The TypedDicts being expanded, outermost first: met again inside, one is unknown there.
_EXPANDING: list = []


def describe_adapter(path: str) -> dict:
    """{"adapter", "tools": [...], "warnings": [...]} for the class at "module.Class"."""
    module_name, _, class_name = path.rpartition(".")
    klass = getattr(importlib.import_module(module_name), class_name, None)
    if not isinstance(klass, type):
        raise LookupError(f"module {module_name!r} has no class named {class_name!r}")
    warnings: list[str] = []
    tools = [describe_tool(klass, name, attr_name, raw, description, warnings)
             for name, attr_name, raw, description in tool_members(klass)]
    return {"adapter": path, "tools": tools, "warnings": warnings}


def describe_tool(klass: type, name: str, attr_name: str, raw, description: str, warnings: list) -> dict:
    hints = _hints(raw, f"{klass.__name__}.{attr_name}", warnings)
    params = list(inspect.signature(raw).parameters.values())
    if not isinstance(inspect.getattr_static(klass, attr_name), staticmethod):
        params = params[1:]  # self or cls: the binding fills it
    fields, rest = [], None
    for p in params:
        if p.name == CONTEXT_PARAM or p.kind in (p.POSITIONAL_ONLY, p.VAR_POSITIONAL):
            continue  # the worker fills ctx; calls pass keyword arguments only
        if p.kind is p.VAR_KEYWORD:
            rest = UNKNOWN  # any other key arrives in **kwargs
            continue
        fields.append({"name": p.name, "type": type_tree(hints.get(p.name, _MISSING)), "optional": p.default is not p.empty})
    streaming = inspect.isgeneratorfunction(raw)
    returns = hints.get("return", _MISSING)
    result = stream_item(returns) if streaming else type_tree(returns)
    return {"name": name, "description": description, "streaming": streaming, "params": fields, "rest": rest,
            "result": result}


def _hints(func, where: str, warnings: list) -> dict:
    """The function's hints evaluated; a hint that cannot be evaluated here (`list[int]` as a
    string on Python 3.8) is left out, so it reads as unknown, and a warning says so."""
    try:
        return typing.get_type_hints(func)
    except Exception:  # noqa: BLE001 - one bad hint must not cost the others: evaluate each alone
        pass
    hints = {}
    namespace = getattr(func, "__globals__", {})
    for key, hint in getattr(func, "__annotations__", {}).items():
        try:
            hints[key] = eval(hint, namespace) if isinstance(hint, str) else hint  # noqa: S307 - the adapter's own hint
        except Exception as e:  # noqa: BLE001
            what = "the return hint" if key == "return" else f"the hint of {key}"
            warnings.append(f"{where}: {what} ({hint}) cannot be evaluated on Python "
                            f"{sys.version_info[0]}.{sys.version_info[1]} ({type(e).__name__}: {e}); typed unknown")
    return hints


def stream_item(hint) -> dict:
    """The chunk type of a generator tool: what its Generator/Iterator/Iterable hint yields."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in _STREAMS and args:
        return type_tree(args[0])
    return UNKNOWN


def type_tree(hint) -> dict:
    """The type tree of one hint (see the module's docstring)."""
    if hint is _MISSING:
        return UNKNOWN
    if hint is None:
        return {"kind": "null"}
    scalar = _SCALARS.get(hint) if isinstance(hint, type) else None
    if scalar is not None:
        return {"kind": scalar}
    supertype = getattr(hint, "__supertype__", None)  # typing.NewType
    if supertype is not None:
        return type_tree(supertype)
    numpy_tree = _numpy(hint)
    if numpy_tree is not None:
        return numpy_tree
    if _is_typeddict(hint):
        return _typeddict(hint)
    if isinstance(hint, type) and (hint in _ARRAYS or hint is tuple):
        return {"kind": "array", "of": UNKNOWN}
    if isinstance(hint, type) and hint in _MAPPINGS:
        return {"kind": "record", "of": UNKNOWN}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or isinstance(hint, _UNION_TYPES):
        return _union([type_tree(a) for a in args])
    if origin is typing.Literal:
        if not all(a is None or isinstance(a, (str, int)) or (isinstance(a, float) and math.isfinite(a)) for a in args):
            return UNKNOWN  # an Enum member, bytes or an infinity: not a JSON literal
        return _union([{"kind": "literal", "value": a} if a is not None else {"kind": "null"} for a in args])
    if origin is tuple:
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            return {"kind": "array", "of": type_tree(args[0]) if args else UNKNOWN}
        return {"kind": "tuple", "items": [] if args == ((),) else [type_tree(a) for a in args]}  # Tuple[()] on 3.8
    if origin in _ARRAYS:
        return {"kind": "array", "of": type_tree(args[0]) if args else UNKNOWN}
    if origin in _MAPPINGS:
        return {"kind": "record", "of": type_tree(args[1]) if len(args) == 2 else UNKNOWN}
    if origin is _ANNOTATED and _ANNOTATED is not None:
        return type_tree(args[0])
    return UNKNOWN


def _union(trees: list) -> dict:
    # Compared as JSON: a dict's == takes True for 1, and a list scan is quadratic in a long Literal.
    unique, seen = [], set()
    for tree in trees:
        for member in tree["of"] if tree["kind"] == "union" else [tree]:
            key = json.dumps(member, sort_keys=True)
            if key not in seen:
                seen.add(key)
                unique.append(member)
    if any(t["kind"] == "unknown" for t in unique):
        return UNKNOWN
    return unique[0] if len(unique) == 1 else {"kind": "union", "of": unique}


def _is_typeddict(hint) -> bool:
    # typing.is_typeddict is 3.10+; a TypedDict (typing's or typing_extensions') is a dict
    # subclass with __total__ and its annotations.
    return isinstance(hint, type) and issubclass(hint, dict) and hasattr(hint, "__total__") and hasattr(hint, "__annotations__")


def _typeddict(hint) -> dict:
    if hint in _EXPANDING:
        return UNKNOWN
    try:
        fields = typing.get_type_hints(hint)
    except Exception:  # noqa: BLE001 - a field hint this Python cannot evaluate
        return {"kind": "record", "of": UNKNOWN}
    # __required_keys__ is 3.9+ (and typing_extensions'); on 3.8 totality is all there is.
    required = getattr(hint, "__required_keys__", None)
    if required is None:
        required = set(fields) if hint.__total__ else set()
    _EXPANDING.append(hint)
    try:
        return {"kind": "object", "fields": [{"name": key, "type": type_tree(value), "optional": key not in required}
                                             for key, value in fields.items()]}
    finally:
        _EXPANDING.pop()


def _numpy(hint) -> dict | None:
    """NumPy arrays and scalars, when the adapter imported NumPy (its hints name it, so it did)."""
    np = sys.modules.get("numpy")
    if np is None:
        return None
    if hint is np.ndarray or typing.get_origin(hint) is np.ndarray:
        return {"kind": "ndarray", "dtype": _dtype_name(np, typing.get_args(hint))}
    if isinstance(hint, type) and issubclass(hint, np.generic):  # a scalar result is its Python value
        if issubclass(hint, np.bool_):
            return {"kind": "boolean"}
        if issubclass(hint, np.integer):
            return {"kind": "integer"}
        if issubclass(hint, np.floating):
            return {"kind": "number"}
        return UNKNOWN
    return None


def _dtype_name(np, args: tuple) -> str | None:
    """"float32" for ndarray[Any, dtype[float32]] (what NDArray[np.float32] is); None for any."""
    if len(args) != 2 or typing.get_origin(args[1]) is not np.dtype:
        return None
    scalar = typing.get_args(args[1])[:1]
    try:
        name = np.dtype(scalar[0]).name if scalar else None
    except TypeError:  # a generic scalar class such as np.floating, or Any
        return None
    name = _ARRAY_AS.get(name, name)
    return name if name in ARRAY_DTYPES else None


def main(argv: list) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m snakepit_bridge.tooltypes module.Class\n")
        return 2
    # The answer goes to a copy of stdout; stdout itself goes to stderr, so what the adapter's
    # module writes, with print() or a C library's write(1, …), cannot garble the answer.
    out = os.fdopen(os.dup(1), "w")
    sys.stdout.flush()
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    with out:
        out.write(json.dumps(describe_adapter(argv[0])) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
