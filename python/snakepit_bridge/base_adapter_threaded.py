"""ThreadSafeAdapter: the base class for adapters that run under the thread profile.

Gives the three safety patterns of the worker-profiles guide: shared read-only state (plain
attributes set in __init__), per-thread state (get_thread_local / set_thread_local) and locked
writes (acquire_lock). The helpers set themselves up lazily, so a subclass that forgets
super().__init__() still works.
"""
from __future__ import annotations

import threading

from .adapter import BaseAdapter, thread_safe_method, tool

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ThreadSafeAdapter", "thread_safe_method", "tool"]

# Guards the lazy creation of the per-instance lock and thread-local store.
_setup_lock = threading.Lock()


class ThreadSafeAdapter(BaseAdapter):
    __thread_safe__ = True

    def __init__(self) -> None:
        self._snakepit_lock = threading.RLock()
        self._snakepit_local = threading.local()

    def _snakepit_helpers(self) -> tuple[threading.RLock, threading.local]:
        d = self.__dict__
        lock, local = d.get("_snakepit_lock"), d.get("_snakepit_local")
        if lock is None or local is None:
            with _setup_lock:
                lock = d.setdefault("_snakepit_lock", threading.RLock())
                local = d.setdefault("_snakepit_local", threading.local())
        return lock, local

    def get_thread_local(self, key: str, default: Any = None) -> Any:
        """This thread's value for key; the default is stored on first use so a `{}` persists."""
        local = self._snakepit_helpers()[1]
        store = local.__dict__
        try:
            return store[key]
        except KeyError:
            store[key] = default
            return default

    def set_thread_local(self, key: str, value: Any) -> None:
        self._snakepit_helpers()[1].__dict__[key] = value

    def acquire_lock(self) -> threading.RLock:
        """The adapter-wide re-entrant lock, for `with self.acquire_lock(): ...`."""
        return self._snakepit_helpers()[0]
