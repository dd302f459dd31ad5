"""An adapter module that cannot be imported (for startup_error tests)."""
import not_a_real_module_xyz  # noqa: F401

from snakepit_bridge import BaseAdapter


class Anything(BaseAdapter):
    pass
