"""Adapters, the @tool decorator and tool discovery.

A tool is a plain method marked with @tool. Marks are attributes on the function object (no
wrapping), so @tool and @thread_safe_method compose in either order and the method keeps its
own signature, which we use to check arguments before calling.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, TypeVar, overload

TOOL_MARK = "__snakepit_tool__"
THREAD_SAFE_MARK = "__snakepit_thread_safe__"
CONTEXT_PARAM = "ctx"

# Any function or method: the decorators hand back the very object they were given, so type
# checkers must see its own type (parameters, return, self) come out unchanged.
F = TypeVar("F", bound=Callable[..., Any])


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

    __slots__ = ("name", "func", "description", "streaming", "thread_safe", "signature", "param_text", "bound_names", "wants_ctx")

    def __init__(self, name: str, func: Callable, raw: Callable, description: str, thread_safe: bool):
        self.name = name
        self.description = description
        self.thread_safe = thread_safe
        self.streaming = inspect.isgeneratorfunction(raw)
        self.signature = inspect.signature(func)
        # Parameters the binding fills (`self`, `cls`): a keyword argument of that name is a caller's mistake.
        self.bound_names = frozenset(inspect.signature(raw).parameters) - frozenset(self.signature.parameters)
        # A parameter named `ctx` receives the call's Context (context.py), never a caller's value.
        self.wants_ctx = CONTEXT_PARAM in self.signature.parameters
        if inspect.iscoroutinefunction(raw):
            # An async tool runs on a fresh event loop in the calling thread.
            coro_fn = func

            @functools.wraps(coro_fn)
            def run_async(**kwargs):
                import asyncio  # here, not at the top: it costs every worker's start ~35 ms

                return asyncio.run(coro_fn(**kwargs))

            func = run_async
        self.func = func
        self.param_text = ", ".join(_param_text(p) for p in self.signature.parameters.values() if p.name != CONTEXT_PARAM)


def _annotation_text(a: Any) -> str | None:
    if a is inspect.Parameter.empty:
        return None
    return a if isinstance(a, str) else getattr(a, "__name__", None) or repr(a)


def _param_text(p: inspect.Parameter) -> str:
    prefix = "**" if p.kind is p.VAR_KEYWORD else "*" if p.kind is p.VAR_POSITIONAL else ""
    text = prefix + p.name
    ann = _annotation_text(p.annotation)
    if ann:
        text += f": {ann}"
    if p.default is not inspect.Parameter.empty:
        text += f" = {p.default!r}"
    return text


def discover_tools(adapter: object) -> dict[str, Tool]:
    """Find the @tool methods of an adapter instance (including inherited ones)."""
    tools: dict[str, Tool] = {}
    seen: set[str] = set()
    for klass in type(adapter).__mro__:
        for attr_name, attr in vars(klass).items():
            if attr_name in seen:
                continue
            seen.add(attr_name)  # the most derived definition wins, marked or not
            raw = _underlying(attr)
            mark = getattr(raw, TOOL_MARK, None) if callable(raw) else None
            if not isinstance(mark, dict):
                continue
            name = mark.get("name") or attr_name
            description = mark.get("description") or _first_doc_line(raw)
            bound = getattr(adapter, attr_name)
            tools[name] = Tool(name, bound, raw, description, bool(getattr(raw, THREAD_SAFE_MARK, False)))
    return tools


def _first_doc_line(f: Callable) -> str:
    doc = inspect.getdoc(f) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""
