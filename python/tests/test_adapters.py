"""Tool discovery, decorators, and the ThreadSafeAdapter helpers."""
import threading

from snakepit_bridge import BaseAdapter, ThreadSafeAdapter, thread_safe_method, tool
from snakepit_bridge import base_adapter_threaded
from snakepit_bridge.adapter import discover_tools


def test_seed_import_path_is_the_same_api():
    assert base_adapter_threaded.ThreadSafeAdapter is ThreadSafeAdapter
    assert base_adapter_threaded.thread_safe_method is thread_safe_method
    assert base_adapter_threaded.tool is tool


class Demo(BaseAdapter):
    @tool(description="Add")
    def add(self, a: int, b: int = 2) -> int:
        return a + b

    @tool
    def bare(self):
        """First doc line.

        More."""
        return 1

    @thread_safe_method
    @tool
    def safe_above(self):
        return 2

    @tool
    @thread_safe_method
    def safe_below(self):
        return 3

    @tool
    def gen(self, n):
        yield from range(n)

    @tool
    def kw(self, **value):
        return value

    @tool(name="renamed")
    def original(self):
        return 4

    def helper(self):
        return "not a tool"


class Child(Demo):
    def add(self, a, b):  # overridden without @tool: no longer a tool
        return 0

    @tool
    def extra(self):
        return 5


def test_discovery():
    tools = discover_tools(Demo())
    assert set(tools) == {"add", "bare", "safe_above", "safe_below", "gen", "kw", "renamed"}
    assert tools["add"].description == "Add" and tools["bare"].description == "First doc line."
    assert tools["safe_above"].thread_safe and tools["safe_below"].thread_safe and not tools["add"].thread_safe
    assert tools["gen"].streaming and not tools["add"].streaming
    assert tools["add"].func(a=1) == 3 and tools["kw"].func(x=1) == {"x": 1}
    assert tools["add"].param_text == "a: int, b: int = 2"


def test_inheritance():
    tools = discover_tools(Child())
    assert "add" not in tools and "extra" in tools and "gen" in tools


def test_decorated_methods_stay_plain_methods():
    d = Demo()
    assert d.add(1, 1) == 2 and d.safe_above() == 2 and d.safe_below() == 3


class Helpers(ThreadSafeAdapter):
    __thread_safe__ = True


class ForgotSuper(ThreadSafeAdapter):
    def __init__(self):  # no super().__init__(): helpers still work
        self.x = 1


def test_thread_local_defaults_persist_per_thread():
    for a in (Helpers(), ForgotSuper()):
        cache = a.get_thread_local("cache", {})
        cache["k"] = 1
        assert a.get_thread_local("cache", {}) == {"k": 1}
        assert a.get_thread_local("missing") is None
        seen = {}

        def other():
            seen["cache"] = a.get_thread_local("cache", {})
            a.set_thread_local("v", 2)
            seen["v"] = a.get_thread_local("v")

        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert seen == {"cache": {}, "v": 2}
        assert a.get_thread_local("v") is None


def test_lock_is_one_reentrant_adapter_lock():
    a = ForgotSuper()
    lock = a.acquire_lock()
    assert lock is a.acquire_lock()
    with a.acquire_lock():
        with a.acquire_lock():  # re-entrant
            pass
    counter = {"n": 0}

    def bump():
        for _ in range(1000):
            with a.acquire_lock():
                counter["n"] += 1

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter["n"] == 4000
