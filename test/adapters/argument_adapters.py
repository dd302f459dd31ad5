"""Adapters for the argument-safety tests: the same tools in both worker profiles."""
import hashlib
import os
import time

from snakepit_bridge import BaseAdapter, ThreadSafeAdapter, tool


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no text for this exception")


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

    @tool(description="A byte string of the given size")
    def make_bytes(self, size):
        return bytes(size)

    @tool
    def unprintable(self):
        raise Unprintable()


class Arguments(_Tools, BaseAdapter):
    pass


class ThreadedArguments(_Tools, ThreadSafeAdapter):
    __thread_safe__ = True
