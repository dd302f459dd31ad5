"""Tool discovery, decorators, and the ThreadSafeAdapter helpers."""
import os
import threading

from conftest import PYTHON_DIR

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


def test_an_override_without_a_docstring_is_described_by_the_one_it_overrides():
    class Quiet(Demo):
        @tool
        def bare(self):
            return 0

    assert discover_tools(Quiet())["bare"].description == "First doc line."


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


def _shapes():
    """Callables of every shape a tool can take, as discovery sees them (bound and raw)."""
    import functools

    def logged(f):
        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            return f(*args, **kwargs)

        return wrapper

    class Shapes(BaseAdapter):
        def plain(self, a, b=1, *, c, d=2): ...
        def star(self, *args, **kwargs): ...
        def positional(self, a, /, b, *rest, ctx=None, **more): ...
        def only_star(*args): ...
        async def coro(self, x): ...
        def gen(self, n):
            yield n
        async def agen(self, n):
            yield n
        @logged
        def wrapped(self, a, b=2): ...
        @staticmethod
        def static(a, b): ...
        @classmethod
        def klass(cls, a): ...
        partial = functools.partial(lambda self, a, b: a, b=1)

    adapter = Shapes()
    for name, attr in vars(Shapes).items():
        if not name.startswith("__"):
            raw = getattr(attr, "__func__", attr)
            yield name, getattr(adapter, name), raw


def test_parameter_names_read_from_code_agree_with_inspect():
    import inspect

    from snakepit_bridge.adapter import _code_flags, _parameter_names

    read = 0
    for name, bound, raw in _shapes():
        for f in (bound, raw):
            names = _parameter_names(f)
            if names is not None:
                read += 1
                assert names == tuple(inspect.signature(f).parameters), name
        flags = _code_flags(raw)
        if flags is not None:
            assert bool(flags & 0x20) == inspect.isgeneratorfunction(raw), name
            assert bool(flags & 0x80) == inspect.iscoroutinefunction(raw), name
    assert read >= 14  # the plain shapes are read without inspect; the others fall back to it


def test_discovery_of_plain_tools_does_not_import_inspect():
    # inspect costs every worker's start ≈ 15 ms; only a call whose arguments do not fit needs it.
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from snakepit_bridge import BaseAdapter, tool\n"
        "from snakepit_bridge.adapter import discover_tools\n"
        "class A(BaseAdapter):\n"
        "    @tool\n"
        "    def add(self, a, b=1, *, ctx=None):\n"
        "        'Add.'\n"
        "        return a + b\n"
        "    @tool\n"
        "    def gen(self, n):\n"
        "        yield n\n"
        "tools = discover_tools(A())\n"
        "assert tools['add'].wants_ctx and tools['gen'].streaming and tools['add'].description == 'Add.'\n"
        "print('inspect' in sys.modules)\n"
    )
    # The bridge from this tree, as conftest.py puts it on sys.path: not every interpreter the
    # suite runs on has it installed.
    env = {**os.environ, "PYTHONPATH": str(PYTHON_DIR)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "False"
