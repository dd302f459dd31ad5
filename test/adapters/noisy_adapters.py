"""Adapters that print far more than anyone should read: drive the output caps."""
import os
import sys
import time

from snakepit_bridge import BaseAdapter, tool

CHUNK = b"x" * (1024 * 1024)


def _write(stream, mb, end=b"\n"):
    out = (sys.stderr if stream == "stderr" else sys.stdout).buffer
    for _ in range(mb):
        out.write(CHUNK)
    out.write(end)
    out.flush()


class Noisy(BaseAdapter):
    @tool(description="Print `count` lines of `mb` MiB each, then a short line saying `tag`")
    def shout(self, count, mb, stream="stderr", tag="done"):
        for _ in range(count):
            _write(stream, mb)
        _write(stream, 0, f"{tag}\n".encode())
        return count

    @tool(description="Start a line of `mb` MiB and leave it open (no newline yet)")
    def open_line(self, mb, stream="stderr"):
        _write(stream, mb, end=b"")
        return mb

    @tool(description="Print raw text as it is, line breaks included")
    def raw(self, text, stream="stderr"):
        _write(stream, 0, text.encode())
        return len(text)


class NoisyBrokenInit(BaseAdapter):
    """Prints 30 long stderr lines while starting, then fails to start."""

    def __init__(self):
        super().__init__()
        for n in range(30):
            os.write(2, f"line {n} ".encode() + b"y" * (100 * 1024) + b"\n")
        time.sleep(0.1)
        raise RuntimeError("cannot start")

    @tool
    def ping(self):
        return "pong"
