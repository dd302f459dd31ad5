"""Tools for argument and failure safety, in both profiles (the Node and Python suites use these
exact names): the worker must answer every call and serve on."""
import hashlib
import os
import time

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
    def sleep(self, seconds):
        time.sleep(seconds)
        return os.getpid()

    @tool(description="Size and SHA-256 of a byte string")
    def digest(self, blob):
        return {"size": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}

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
