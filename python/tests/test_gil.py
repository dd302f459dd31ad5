"""GilWatch (gil.py) on whatever build runs the tests: warnings raised while it watches reach the
usual place once, and an import that leaves the GIL as it was names no module. (That a module
which enables the GIL is named is shown on free-threaded 3.13t with a real C extension, by
test/freeThreaded.test.ts.)"""
import importlib
import sys
import warnings

import pytest

from snakepit_bridge.gil import GilWatch, gil_enabled


def test_a_warning_raised_while_watching_is_shown_once_as_usual():
    with pytest.warns(UserWarning, match="still shown") as shown:
        with GilWatch() as watch:
            warnings.warn("still shown", UserWarning)
    assert len(shown) == 1
    assert watch.module is None


def test_an_import_that_leaves_the_gil_as_it_was_names_no_module():
    before = gil_enabled()
    sys.modules.pop("colorsys", None)
    with GilWatch() as watch:
        importlib.import_module("colorsys")
    assert watch.module is None
    assert gil_enabled() == before
