"""What a worker (worker.py) and a bridge server (serve.py) both do before they serve an
adapter, whatever the transport: load the adapter's class, refuse one the thread profile cannot
run, size frames, say which Python runs. A local worker imports this before `ready`: it loads
no module beyond sys.
"""
from __future__ import annotations

import sys

# The largest arguments or result of one call, unless told otherwise (maxMessageBytes).
DEFAULT_MAX_MESSAGE = 256 * 1024 * 1024
# Room above the message limit for a frame's own fields; large arguments arrive in small parts.
FRAME_OVERHEAD = 4 * 1024 * 1024


class StartupError(Exception):
    """A failure before serving that needs no traceback of ours (bad arguments, config)."""


def frame_limit(max_message_bytes: int) -> int:
    """The largest frame a connection sends or reads, for calls of up to `max_message_bytes`."""
    return max_message_bytes + FRAME_OVERHEAD


def line_buffered_output() -> None:
    """Each line of stdout and stderr goes out as it ends, so the process reading them sees it at once."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)
        except Exception:
            pass


def python_version() -> str:
    """As platform.python_version(), without importing platform (≈ 2 ms of every worker's start)."""
    return sys.version.split()[0]


def load_adapter_class(spec: str):
    module_name, _, class_name = spec.rpartition(".")
    if not module_name:
        raise StartupError(f"--adapter {spec!r} must be module.Class, e.g. myapp.adapters.MyAdapter")
    __import__(module_name)  # importlib.import_module's effect, without importing importlib
    module = sys.modules[module_name]
    try:
        return getattr(module, class_name)
    except AttributeError:
        raise AttributeError(f"module {module_name!r} has no class {class_name!r} (adapter {spec!r})") from None


def check_thread_safe(cls, instead: str) -> None:
    """StartupError unless the thread profile may run `cls`; `instead` names the process profile's option."""
    if getattr(cls, "__thread_safe__", False) is not True:
        name = cls.__name__
        raise StartupError(
            f"{name} is not declared thread-safe: the thread profile runs several calls at once in one "
            f"process. Set `__thread_safe__ = True` on the class once it is thread-safe (see "
            f"ThreadSafeAdapter), or use {instead}."
        )
