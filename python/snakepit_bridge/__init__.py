"""Snakepit bridge: serves a Python adapter's tools to a Node.js Snakepit pool over gRPC."""
from .adapter import BaseAdapter, thread_safe_method, tool
from .base_adapter_threaded import ThreadSafeAdapter
from .context import Context, NodeError

__all__ = ["BaseAdapter", "Context", "NodeError", "ThreadSafeAdapter", "tool", "thread_safe_method"]
__version__ = "0.1.0"
