"""Adapters for test/preload.test.ts: module state loaded once in a pool's fork server."""
import collections
import os
import re
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

    @tool
    def fork_keys(self) -> list:
        """The fork requests' keys this worker can reach from the frames of its main thread."""
        keys = set()
        seen = set()

        def look(value, depth):
            if id(value) in seen or depth > 6:
                return
            seen.add(id(value))
            if isinstance(value, (bytes, bytearray, str)):
                text = value.decode("latin1") if not isinstance(value, str) else value
                keys.update(re.findall(r'"key": ?"([0-9a-f]{32})"', text))
            elif isinstance(value, dict):
                if value.get("type") == "fork" and isinstance(value.get("key"), str):
                    keys.add(value["key"])
                for item in value.values():
                    look(item, depth + 1)
            elif isinstance(value, (list, tuple, set, frozenset, collections.deque)):
                for item in list(value):
                    look(item, depth + 1)
            elif hasattr(value, "__dict__") and not isinstance(value, type) and type(value).__module__.startswith("snakepit_bridge"):
                look(vars(value), depth + 1)

        frame = sys._current_frames()[threading.main_thread().ident]
        while frame is not None:
            look(dict(frame.f_locals), 0)
            frame = frame.f_back
        return sorted(keys)


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
