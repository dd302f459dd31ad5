"""Adapters for test/preload.test.ts: module state loaded once in a pool's fork server."""
import os
import sys
import threading
import time

from snakepit_bridge import BaseAdapter, ThreadSafeAdapter, tool

LOADED_IN = os.getpid()  # the fork server's pid, for every fork of it
STATE = {"bumps": 0}  # module state: each worker has its own copy once it writes to it


class _Tools:
    @tool
    def info(self, hold: float = 0) -> dict:
        time.sleep(hold)
        return {
            "pid": os.getpid(),
            "loaded_in": LOADED_IN,
            "preloaded_in": self.preloaded["loaded_in"],
            "preload_calls": self.preloaded["calls"],
            "bumps": STATE["bumps"],
            "threads": threading.active_count(),
        }

    @tool
    def bump(self, hold: float = 0) -> dict:
        STATE["bumps"] += 1
        time.sleep(hold)
        return {"pid": os.getpid(), "bumps": STATE["bumps"]}

    @tool
    def say(self, text: str) -> int:
        print(f"out: {text}")
        print(f"err: {text}", file=sys.stderr)
        return os.getpid()

    @tool
    def sleep(self, seconds: float) -> int:
        time.sleep(seconds)
        return os.getpid()


_preload_calls = []


class Preloaded(_Tools, BaseAdapter):
    @classmethod
    def preload(cls) -> dict:
        _preload_calls.append(os.getpid())
        return {"loaded_in": os.getpid(), "calls": len(_preload_calls)}

    def __init__(self, preloaded):
        self.preloaded = preloaded


class ThreadedPreloaded(_Tools, ThreadSafeAdapter):
    @classmethod
    def preload(cls) -> dict:
        return {"loaded_in": os.getpid(), "calls": 1}

    def __init__(self, preloaded):
        self.preloaded = preloaded


class StartsHelper(_Tools, BaseAdapter):
    """preload() starts a helper process (a model server, say): it runs beside the fork server."""

    @classmethod
    def preload(cls) -> dict:
        import subprocess

        helper = subprocess.Popen(["sleep", "600"], stdin=subprocess.DEVNULL)
        return {"loaded_in": os.getpid(), "calls": 1, "helper": helper.pid}

    def __init__(self, preloaded):
        self.preloaded = preloaded

    @tool
    def helper(self) -> int:
        return self.preloaded["helper"]
