"""WarnOnce: the first warning of each location is shown, repeats are counted and reported, a
user's "always" filter is kept, and several threads warning at once count every repeat."""
from __future__ import annotations

import threading
import warnings

from snakepit_bridge.warnonce import WarnOnce


def make():
    shown, written = [], []
    once = WarnOnce(warnings, write=written.append)
    once._show = lambda message, category, filename, lineno, file=None, line=None: shown.append((str(message), lineno))
    return once, shown, written


def test_each_location_is_shown_once_and_its_repeats_reported():
    once, shown, written = make()
    with warnings.catch_warnings():
        warnings.resetwarnings()
        for _ in range(5):
            once.showwarning(UserWarning("a"), UserWarning, "/x/lib.py", 10)
            once.showwarning(UserWarning("b"), UserWarning, "/x/lib.py", 11)
        once.showwarning(RuntimeWarning("c"), RuntimeWarning, "/x/lib.py", 10)
        once._timer.cancel()
        once.report()
    assert shown == [("a", 10), ("b", 11), ("c", 10)]
    assert sorted(written) == [
        "snakepit: UserWarning at /x/lib.py:10 repeated 4 more times (4 since it was shown; each location's warning is shown once)\n",
        "snakepit: UserWarning at /x/lib.py:11 repeated 4 more times (4 since it was shown; each location's warning is shown once)\n",
    ]
    once.showwarning(UserWarning("a"), UserWarning, "/x/lib.py", 10)
    once._timer.cancel()
    once.report()
    assert written[-1].startswith("snakepit: UserWarning at /x/lib.py:10 repeated 1 more times (5 since it was shown")
    assert once._interval == 20.0  # the reports space out while repeats go on


def test_an_always_filter_of_the_users_shows_every_warning():
    once, shown, _ = make()
    with warnings.catch_warnings():
        warnings.resetwarnings()
        warnings.filterwarnings("always", message="loud")
        for _ in range(3):
            once.showwarning(UserWarning("loud one"), UserWarning, "/x/lib.py", 1)
            once.showwarning(UserWarning("quiet"), UserWarning, "/x/lib.py", 2)
    assert shown == [("loud one", 1), ("quiet", 2), ("loud one", 1), ("loud one", 1)]


def test_warnings_from_many_threads_are_shown_once_and_every_repeat_counted():
    once, shown, written = make()
    barrier = threading.Barrier(8)

    def warn():
        barrier.wait()
        for _ in range(50):
            once.showwarning(UserWarning("a"), UserWarning, "/x/lib.py", 10)

    with warnings.catch_warnings():
        warnings.resetwarnings()
        threads = [threading.Thread(target=warn) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        once._timer.cancel()
        once.report()
    assert shown == [("a", 10)]
    assert "repeated 399 more times" in written[0]


def test_a_module_that_warns_or_fails_when_matched_against_a_filter_does_not_hang_or_break_the_warning():
    # Matching a filter that names a module looks the warning's file up in sys.modules; a lazily
    # loaded module may warn on that lookup (a warning within a warning) or raise ImportError.
    import sys
    import types

    def warns(name):
        warnings.warn("loaded lazily", RuntimeWarning)
        raise AttributeError(name)

    def fails(name):
        raise ImportError("optional dependency missing")

    once, shown, _ = make()
    lazy, broken = types.ModuleType("lazy_mod"), types.ModuleType("broken_mod")
    lazy.__getattr__, broken.__getattr__ = warns, fails
    errors = []

    def repeat():
        try:
            for _ in range(2):
                once.showwarning(UserWarning("a"), UserWarning, "/x/lib.py", 10)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    with warnings.catch_warnings():
        warnings.resetwarnings()
        warnings.filterwarnings("default", module="some_module")
        warnings.showwarning = once.showwarning
        sys.modules.update(lazy_mod=lazy, broken_mod=broken)
        try:
            thread = threading.Thread(target=repeat, daemon=True)
            thread.start()
            thread.join(10)
        finally:
            del sys.modules["lazy_mod"], sys.modules["broken_mod"]
    assert not thread.is_alive(), "showwarning deadlocked on a warning raised within it"
    assert errors == []
    assert ("a", 10) in shown
    if once._timer:
        once._timer.cancel()


def test_past_the_table_of_locations_a_new_location_is_shown_each_time_and_the_table_stays_bounded():
    from snakepit_bridge import warnonce

    once, shown, _ = make()
    with warnings.catch_warnings():
        warnings.resetwarnings()
        for lineno in range(warnonce.MAX_LOCATIONS + 100):
            once.showwarning(UserWarning("gen"), UserWarning, "<generated>", lineno)
        for _ in range(3):
            once.showwarning(UserWarning("gen"), UserWarning, "<generated>", warnonce.MAX_LOCATIONS + 1)
    assert len(once._seen) == warnonce.MAX_LOCATIONS
    assert len(shown) == warnonce.MAX_LOCATIONS + 100 + 3
    if once._timer:
        once._timer.cancel()
