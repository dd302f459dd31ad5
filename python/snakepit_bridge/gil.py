"""Whether this interpreter runs Python without the GIL, and which import turned it back on.

A free-threaded build (3.13t) starts with the GIL disabled. Importing a C extension that has not
declared it can run without the GIL (`Py_mod_gil`) enables it for the rest of the process; Python
says so once, as a RuntimeWarning naming the module. A thread worker then runs Python one thread
at a time, which defeats the build: the worker reports it (worker:thread-safety-warning) rather
than leave it to a line on stderr.
"""
from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# CPython's text (Python/import.c, _PyImport_CheckGILForModule), up to the module's name.
_ENABLED_FOR = "The global interpreter lock (GIL) has been enabled to load module '"


def _enabled_for(message: str) -> str | None:
    """The module a warning with CPython's text names, or None for any other warning."""
    at = message.find(_ENABLED_FOR)
    if at < 0:
        return None
    name, quote, _ = message[at + len(_ENABLED_FOR):].partition("'")
    return name if quote and name else None


def gil_enabled() -> bool:
    check = getattr(sys, "_is_gil_enabled", None)
    return bool(check()) if check is not None else True


class GilWatch:
    """`with GilWatch() as watch: import ...`; afterwards `watch.module` names the module whose
    import enabled the GIL, or is None if the GIL stayed as it was. Warnings raised meanwhile
    still reach stderr as usual. With the GIL on from the start (any standard build, or
    PYTHON_GIL=1) it watches nothing and costs nothing."""

    UNKNOWN = "(a module whose warning was filtered out)"

    def __init__(self) -> None:
        self.module: str | None = None
        self._catching: Any = None
        self._caught: list = []

    def __enter__(self) -> GilWatch:
        if not gil_enabled():
            import warnings

            self._catching = warnings.catch_warnings(record=True)
            self._caught = self._catching.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._catching is None:
            return
        import warnings

        self._catching.__exit__(*exc)
        for w in self._caught:
            found = _enabled_for(str(w.message)) if issubclass(w.category, RuntimeWarning) else None
            if found and self.module is None:
                self.module = found
            warnings.showwarning(w.message, w.category, w.filename, w.lineno, w.file, w.line)
        if self.module is None and gil_enabled():
            self.module = self.UNKNOWN  # e.g. run with -W ignore: the GIL is on all the same
