"""Runtime thread-safety checks for the thread profile (enabled by --thread-safety-checks).

Two findings are reported as control lines, each once per worker:
- unsafe_concurrent_tool: a tool not marked @thread_safe_method runs in two threads at once;
- unsafe_library: a library known not to be thread-safe runs in two threads at once.
Library use is seen with a per-thread profile hook installed only while a tool call runs,
so when the checks are off nothing here is installed and calls pay nothing.
"""
from __future__ import annotations

import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

# Libraries the worker-profiles guide lists as not thread-safe, with the advice to give.
UNSAFE_LIBRARIES: dict[str, str] = {
    "pandas": "pandas is not thread-safe: use Polars, or hold a lock (self.acquire_lock()) around all pandas operations",
}


class SafetyChecker:
    def __init__(self, report: Callable[[dict[str, Any]], None]):
        self._report = report
        self._lock = threading.Lock()
        self._tool_threads: dict[str, set[int]] = {}
        self._lib_threads: dict[str, set[int]] = {lib: set() for lib in UNSAFE_LIBRARIES}
        self._reported: set[tuple[str, str]] = set()

    # -- a tool call ------------------------------------------------------------------------
    def enter(self, tool) -> Any:
        """Called on the tool's thread before it runs; returns a token for exit()."""
        tid = threading.get_ident()
        if not tool.thread_safe:
            with self._lock:
                active = self._tool_threads.setdefault(tool.name, set())
                active.add(tid)
                if len(active) >= 2:
                    self._warn_locked(
                        "unsafe_concurrent_tool", tool.name, tool=tool.name, library=None, thread_ids=sorted(active),
                        message=(
                            f"tool '{tool.name}' ran in {len(active)} threads at once but is not marked "
                            "@thread_safe_method: make it thread-safe and mark it, or use workerProfile 'process'"
                        ),
                    )
        depth = {lib: 0 for lib in UNSAFE_LIBRARIES}
        hook = self._make_hook(tool.name, tid, depth)
        previous = sys.getprofile()
        sys.setprofile(hook)
        return (tid, depth, previous)

    def exit(self, tool, token) -> None:
        tid, depth, previous = token
        sys.setprofile(previous)
        with self._lock:
            if not tool.thread_safe:
                self._tool_threads.get(tool.name, set()).discard(tid)
            for lib, d in depth.items():
                if d:
                    self._lib_threads[lib].discard(tid)

    # -- library use ------------------------------------------------------------------------
    def _make_hook(self, tool_name: str, tid: int, depth: dict[str, int]):
        libs = UNSAFE_LIBRARIES

        def hook(frame, event, _arg):
            if event != "call" and event != "return":
                return
            mod = frame.f_globals.get("__name__")
            if not mod:
                return
            top = mod.partition(".")[0]
            if top not in libs:
                return
            if event == "call":
                depth[top] += 1
                if depth[top] == 1:
                    self._lib_enter(top, tool_name, tid)
            elif depth[top] > 0:
                depth[top] -= 1
                if depth[top] == 0:
                    with self._lock:
                        self._lib_threads[top].discard(tid)

        return hook

    def _lib_enter(self, lib: str, tool_name: str, tid: int) -> None:
        with self._lock:
            active = self._lib_threads[lib]
            active.add(tid)
            if len(active) >= 2:
                self._warn_locked(
                    "unsafe_library", lib, tool=tool_name, library=lib, thread_ids=sorted(active),
                    message=f"{lib} was used from {len(active)} threads at once (tool '{tool_name}'): {UNSAFE_LIBRARIES[lib]}",
                )

    def _warn_locked(self, kind: str, subject: str, **fields: Any) -> None:
        if (kind, subject) in self._reported:
            return
        self._reported.add((kind, subject))
        self._report({"type": "thread_safety_warning", "kind": kind, **fields})
