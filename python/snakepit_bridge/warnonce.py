"""Python warnings shown once per location, the repeats counted.

Python's own "default" action shows a warning once per location, but any change to the filters
(every `warnings.catch_warnings()`, which libraries such as scikit-learn enter on each call)
forgets what was shown, so the same warning reached Node's stderr on every call. Installed after
`ready` (importing `warnings` costs every start), this shows the first warning of each location
(category, file, line) as Python prints it, counts the repeats, and reports them on stderr in one
line per location: 5 s after the first repeat, then at intervals that double, up to 10 min. To
count each repeat, the worker takes over the fall-through action ("default" becomes "always",
deduplicated here); a filter of the user's own is kept: `-W error`, `PYTHONWARNINGS`,
`warnings.simplefilter("always")` in the adapter act as Python has them, and a warning an
`"always"` filter matches is shown every time.
"""
from __future__ import annotations

import os
import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FIRST_REPORT_S = 5.0
LONGEST_REPORT_S = 600.0
# Locations remembered; past this (generated code, say) a new location's warning is shown every
# time, uncounted, so the table stays bounded.
MAX_LOCATIONS = 10_000


class WarnOnce:
    def __init__(self, warnings: Any, write=None) -> None:
        self._warnings = warnings
        self._show = warnings.showwarning
        self._write = write or (lambda text: (sys.stderr.write(text), sys.stderr.flush()))
        # Reentrant: matching a filter that names a module may import a lazy one, which may warn.
        self._lock = threading.RLock()
        self._seen: dict[tuple, list[int]] = {}  # location → [repeats not yet reported, repeats in all]
        self._modules: dict[str, str] = {}  # file → module name, for filters that name a module
        self._interval = FIRST_REPORT_S
        self._timer: threading.Timer | None = None

    def showwarning(self, message, category, filename, lineno, file=None, line=None) -> None:
        location = (category, filename, lineno)
        with self._lock:
            counts = self._seen.get(location)
            if counts is not None and not self._always(message, category, filename, lineno):
                counts[0] += 1
                counts[1] += 1
                if self._timer is None:
                    self._timer = threading.Timer(self._interval, self.report)
                    self._timer.daemon = True
                    self._timer.start()
                return
            if counts is None and len(self._seen) < MAX_LOCATIONS:
                self._seen[location] = [0, 0]
        self._show(message, category, filename, lineno, file, line)

    def report(self) -> None:
        """One line per location repeated since the last report."""
        with self._lock:
            self._timer = None
            due = [(location, counts[0], counts[1]) for location, counts in self._seen.items() if counts[0]]
            for location, _new, _all in due:
                self._seen[location][0] = 0
            self._interval = min(self._interval * 2, LONGEST_REPORT_S)
        for (category, filename, lineno), new, total in due:
            self._write(f"snakepit: {category.__name__} at {filename}:{lineno} repeated {new} more times "
                        f"({total} since it was shown; each location's warning is shown once)\n")

    def _always(self, message, category, filename, lineno) -> bool:
        """Whether the first filter this warning matches says "always" (the user's: ours is the fall-through)."""
        text = str(message)
        for action, pattern, kind, module, at in self._warnings.filters:
            if ((pattern is None or pattern.match(text)) and issubclass(category, kind)
                    and (module is None or module.match(self._module(filename))) and at in (0, lineno)):
                return action == "always"
        return False

    def _module(self, filename: str) -> str:
        """The name of the module a file is, as `warnings.warn` matches filters by it."""
        name = self._modules.get(filename)
        if name is None:
            name = next((m for m, mod in list(sys.modules.items()) if _file_of(mod) == filename), None)
            name = name or os.path.splitext(filename)[0]
            self._modules[filename] = name
        return name


def _file_of(module) -> str | None:
    try:
        return getattr(module, "__file__", None)
    except Exception:  # noqa: BLE001 - a lazy module whose import fails must not fail the warning
        return None


def install() -> WarnOnce:
    import warnings

    warn_once = WarnOnce(warnings)
    warnings.showwarning = warn_once.showwarning
    if warnings.defaultaction == "default":
        warnings.defaultaction = "always"  # every repeat reaches showwarning: counted there
    return warn_once
