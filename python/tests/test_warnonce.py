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
