"""Tools that fail in awkward ways, in both profiles: the worker must answer and serve on."""
import os

from snakepit_bridge import BaseAdapter, ThreadSafeAdapter, tool


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no text")


class _Tools:
    @tool
    def echo(self, **value):
        return value

    @tool
    def pid(self):
        return os.getpid()

    @tool
    def unprintable(self):
        raise Unprintable()

    @tool
    def deep_result(self, depth):
        value = 1
        for _ in range(depth):
            value = [value]
        return value

    @tool
    def blob(self, size):
        return bytes(size)

    @tool
    def blobs(self, size, n):
        for _ in range(n):
            yield bytes(size)


class Hostile(_Tools, BaseAdapter):
    pass


class ThreadedHostile(_Tools, ThreadSafeAdapter):
    __thread_safe__ = True
