"""Adapters for the Node tests of what one call may do to its worker: oversized texts and
messages, calls back into Node, and tools that raise SystemExit or KeyboardInterrupt."""
import os
import sys

from snakepit_bridge import BaseAdapter, NodeError, ThreadSafeAdapter, tool


class _Tools:
    @tool
    def pid(self):
        return os.getpid()

    @tool
    def long_progress(self, size, ctx):
        """One progress report whose message is `size` characters, then a short one."""
        ctx.progress(1, 2, "m" * size)
        ctx.progress(2, 2, "short")
        return "done"

    @tool
    def long_error(self, size):
        raise ValueError("e" * size)

    @tool
    def ask_node(self, name, ctx, **kwargs):
        """What Node's function returned (its size if it is a string), or the NodeError it raised."""
        try:
            value = ctx.call(name, **kwargs)
        except NodeError as e:
            text = str(e)
            return {"code": e.code, "type": e.type, "length": len(text), "head": text[:200], "tail": text[-200:]}
        return {"length": len(value)} if isinstance(value, (str, bytes)) else {"value": value}

    @tool
    def send_node(self, name, size, ctx):
        """Calls Node with a `size`-byte argument; returns the NodeError's code if it raised."""
        try:
            ctx.call(name, blob=b"x" * size)
        except NodeError as e:
            return {"code": e.code, "type": e.type, "message": str(e)}
        return {"code": None}

    @tool
    def exits(self, code=0):
        sys.exit(code)

    @tool
    def interrupted(self):
        raise KeyboardInterrupt

    @tool
    def exits_streaming(self):
        yield 1
        sys.exit(3)

    @tool
    def dies(self):
        os._exit(9)


class Misbehaving(_Tools, BaseAdapter):
    pass


class ThreadedMisbehaving(_Tools, ThreadSafeAdapter):
    __thread_safe__ = True
