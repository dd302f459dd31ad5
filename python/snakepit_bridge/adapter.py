"""Adapters, the @tool decorator and tool discovery.

A tool is a plain method marked with @tool. Marks are attributes on the function object (no
wrapping), so @tool and @thread_safe_method compose in either order and the method keeps its
own signature, which we use to check arguments before calling.
"""
from __future__ import annotations

import functools
from types import FunctionType as _FunctionType
from types import MethodType as _MethodType

TOOL_MARK = "__snakepit_tool__"
THREAD_SAFE_MARK = "__snakepit_thread_safe__"
CONTEXT_PARAM = "ctx"

# Type checkers read TYPE_CHECKING as True. A worker does not import typing (milliseconds of
# every start-up): the bridge's annotations are strings, and `overload` only marks the variants
# type checkers read before the one definition that runs.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterator, TypeVar, overload

    # Any function or method: the decorators hand back the very object they were given, so type
    # checkers must see its own type (parameters, return, self) come out unchanged.
    F = TypeVar("F", bound=Callable[..., Any])
else:
    def overload(variant):
        return variant


@overload
def tool(func: F, /) -> F: ...


@overload
def tool(*, description: str | None = None, name: str | None = None) -> Callable[[F], F]: ...


def tool(func: Callable[..., Any] | None = None, *, description: str | None = None,
         name: str | None = None) -> Any:
    """Mark a method as a tool. Usable bare (`@tool`) or with options (`@tool(description=...)`)."""

    def mark(f: F) -> F:
        target = _underlying(f)
        setattr(target, TOOL_MARK, {"description": description, "name": name})
        return f

    return mark(func) if func is not None else mark


def thread_safe_method(func: F) -> F:
    """Declare that a tool may run in several threads at once (the thread profile's checks trust it)."""
    setattr(_underlying(func), THREAD_SAFE_MARK, True)
    return func


def _underlying(f: Any) -> Any:
    # staticmethod/classmethod objects carry the function in __func__.
    return getattr(f, "__func__", f) if isinstance(f, (staticmethod, classmethod)) else f


class BaseAdapter:
    """Base class for adapters: subclass it and mark methods with @tool."""

    __thread_safe__ = False


class Tool:
    """One discovered tool: the bound callable plus what we need to check and describe calls."""

    __slots__ = ("name", "func", "description", "streaming", "thread_safe", "bound_names", "wants_ctx", "_signature")

    def __init__(self, name: str, func: Callable, raw: Callable, description: str, thread_safe: bool):
        self.name = name
        self.description = description
        self.thread_safe = thread_safe
        self._signature = None
        flags = _code_flags(raw)
        if flags is None:
            import inspect

            self.streaming, is_async = inspect.isgeneratorfunction(raw), inspect.iscoroutinefunction(raw)
        else:
            self.streaming, is_async = bool(flags & _CO_GENERATOR), bool(flags & _CO_COROUTINE)
        names, raw_names = _parameter_names(func), _parameter_names(raw)
        if names is None or raw_names is None:
            names, raw_names = tuple(self.signature.parameters), tuple(_signature_of(raw).parameters)
        # Parameters the binding fills (`self`, `cls`): a keyword argument of that name is a caller's mistake.
        self.bound_names = frozenset(raw_names) - frozenset(names)
        # A parameter named `ctx` receives the call's Context (context.py), never a caller's value.
        self.wants_ctx = CONTEXT_PARAM in names
        if is_async:
            # An async tool runs on a fresh event loop in the calling thread.
            coro_fn = func

            @functools.wraps(coro_fn)
            def run_async(**kwargs):
                import asyncio  # here, not at the top: it costs every worker's start ~35 ms

                return asyncio.run(coro_fn(**kwargs))

            func = run_async
        self.func = func

    # The signature and its text serve only calls whose arguments do not fit (runner.py), so
    # `inspect` (≈ 15 ms of every worker's start) is imported on that path alone.
    @property
    def signature(self) -> Any:
        if self._signature is None:
            self._signature = _signature_of(self.func)
        return self._signature

    @property
    def param_text(self) -> str:
        return ", ".join(_param_text(p) for p in self.signature.parameters.values() if p.name != CONTEXT_PARAM)


# Code flags (as in inspect): a generator, a coroutine, a *args and a **kwargs parameter.
_CO_GENERATOR, _CO_COROUTINE, _CO_VARARGS, _CO_VARKEYWORDS = 0x20, 0x80, 0x04, 0x08


def _plain_function(f: Any) -> Any:
    """`f` when inspect would read nothing but its code object; else None (a wrapper naming
    another signature, a partial, a callable object, a builtin, a coroutine marked by hand)."""
    if type(f) is not _FunctionType:
        return None
    if any(hasattr(f, a) for a in ("__wrapped__", "__signature__", "_is_coroutine_marker")):
        return None
    return f


def _code_flags(raw: Any) -> int | None:
    plain = _plain_function(raw)
    return plain.__code__.co_flags if plain is not None else None


def _parameter_names(f: Any) -> tuple | None:
    """The names inspect.signature(f) lists, read from the code object of a plain function or
    of a method bound to one; None for any other callable."""
    bound = type(f) is _MethodType
    plain = _plain_function(f.__func__ if bound else f)
    if plain is None:
        return None
    code = plain.__code__
    if bound and code.co_argcount == 0:
        return None  # the binding fills *args: inspect says what remains
    # co_varnames holds the positional, the keyword-only, *args and **kwargs in that order;
    # a signature lists *args before the keyword-only ones.
    positional, keyword_only = code.co_argcount, code.co_kwonlyargcount
    names = list(code.co_varnames[: positional + keyword_only])
    extra = positional + keyword_only
    if code.co_flags & _CO_VARARGS:
        names.insert(positional, code.co_varnames[extra])
        extra += 1
    if code.co_flags & _CO_VARKEYWORDS:
        names.append(code.co_varnames[extra])
    return tuple(names[1:] if bound else names)


def _signature_of(f: Callable) -> Any:
    import inspect

    return inspect.signature(f)


def _param_text(p: Any) -> str:
    """One parameter of an inspect.Signature as an error message shows it."""
    prefix = "**" if p.kind is p.VAR_KEYWORD else "*" if p.kind is p.VAR_POSITIONAL else ""
    text = prefix + p.name
    ann = p.annotation
    if ann is not p.empty:
        text += f": {ann if isinstance(ann, str) else getattr(ann, '__name__', None) or repr(ann)}"
    if p.default is not p.empty:
        text += f" = {p.default!r}"
    return text


def discover_tools(adapter: object) -> dict[str, Tool]:
    """Find the @tool methods of an adapter instance (including inherited ones)."""
    return {name: Tool(name, getattr(adapter, attr_name), raw, description, bool(getattr(raw, THREAD_SAFE_MARK, False)))
            for name, attr_name, raw, description in tool_members(type(adapter))}


def tool_members(klass: type) -> Iterator[tuple[str, str, Any, str]]:
    """(tool name, attribute name, marked function, description) of each @tool method of a
    class, inherited ones included, without creating an adapter (tooltypes.py reads them too)."""
    seen: set[str] = set()
    for base in klass.__mro__:
        for attr_name, attr in vars(base).items():
            if attr_name in seen:
                continue
            seen.add(attr_name)  # the most derived definition wins, marked or not
            raw = _underlying(attr)
            mark = getattr(raw, TOOL_MARK, None) if callable(raw) else None
            if not isinstance(mark, dict):
                continue
            description = mark.get("description") or _first_doc_line(_docstring(klass, attr_name))
            yield mark.get("name") or attr_name, attr_name, raw, description


def _docstring(klass: type, name: str) -> str:
    """The docstring of a method, or of the one it overrides (as inspect.getdoc finds it)."""
    for base in klass.__mro__:
        attr = vars(base).get(name)
        doc = getattr(_underlying(attr), "__doc__", None) if attr is not None else None
        if isinstance(doc, str):
            return doc
    return ""


def _first_doc_line(doc: str) -> str:
    return doc.strip().splitlines()[0] if doc.strip() else ""
