"""Snakepit bridge: serves a Python adapter's tools to a Node.js Snakepit pool over gRPC.

The public names load when first used (PEP 562): a worker imports this package first and forks
its watchdog before loading the rest (control.py), while it is smallest.
"""
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .adapter import BaseAdapter, thread_safe_method, tool
    from .base_adapter_threaded import ThreadSafeAdapter
    from .context import Context, NodeError

__all__ = ["BaseAdapter", "Context", "NodeError", "ThreadSafeAdapter", "tool", "thread_safe_method"]
__version__ = "0.1.0"

# Each public name and the module that defines it.
_HOMES = {"BaseAdapter": "adapter", "thread_safe_method": "adapter", "tool": "adapter",
          "ThreadSafeAdapter": "base_adapter_threaded", "Context": "context", "NodeError": "context"}


if not TYPE_CHECKING:  # type checkers see the imports above, and no catch-all for other names

    def __getattr__(name):
        home = _HOMES.get(name)
        if home is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        __import__(f"{__name__}.{home}")
        value = getattr(globals()[home], name)
        globals()[name] = value  # found here directly from now on
        return value

    def __dir__():
        return sorted({*globals(), *_HOMES})
