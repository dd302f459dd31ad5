"""Tools that raise Python warnings, as libraries do on every call, and that read the environment."""
import os
import warnings

from snakepit_bridge import BaseAdapter, tool


class Warns(BaseAdapter):
    __thread_safe__ = True  # stateless: also served by the thread profile

    @tool(description="Warn as a library does on each call, resetting the warning registry as scikit-learn's catch_warnings does")
    def fit(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
        warnings.warn("X has feature names, but the model was fitted without them", UserWarning)
        return "fitted"

    @tool(description="The values of the named environment variables (None if unset)")
    def env(self, names):
        return {name: os.environ.get(name) for name in names}


class WarnsAlways(Warns):
    """An adapter that asks to see every warning."""

    def __init__(self):
        super().__init__()
        warnings.simplefilter("always")
