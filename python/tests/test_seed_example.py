"""The seed guide's "Thread-Safe Adapter Pattern", as written, with a stand-in for torch."""
import sys
import threading
import types

from snakepit_bridge.adapter import discover_tools

# A tiny stand-in for the parts of torch the example touches.
fake_torch = types.ModuleType("torch")


class _Tensor(list):
    def tolist(self):
        return list(self)


class _NoGrad:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _Model:
    def eval(self):
        return self

    def __call__(self, t):
        return _Tensor(x * 2 for x in t)


fake_torch.load = lambda path: _Model()
fake_torch.no_grad = _NoGrad
fake_torch.tensor = _Tensor

SEED_SOURCE = '''
from snakepit_bridge.base_adapter_threaded import ThreadSafeAdapter, thread_safe_method, tool

class MyAdapter(ThreadSafeAdapter):
    __thread_safe__ = True  # Required declaration

    def __init__(self):
        super().__init__()
        # Pattern 1: Shared read-only (loaded once)
        self.model = self._load_model()

        # Pattern 3: Shared mutable (requires locking)
        self.request_count = 0

    def _load_model(self):
        import torch
        model = torch.load("model.pt")
        model.eval()
        return model

    @thread_safe_method
    @tool(description="Run inference")
    def predict(self, input_data: list) -> dict:
        # Pattern 2: Thread-local cache
        cache = self.get_thread_local('cache', {})

        # Read shared model (no lock needed)
        with torch.no_grad():
            result = self.model(torch.tensor(input_data))

        # Update shared state (lock required)
        with self.acquire_lock():
            self.request_count += 1

        return {"prediction": result.tolist()}
'''


def test_seed_example_runs_as_written(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    ns = {"torch": fake_torch}  # the example's predict() uses a module-level torch
    exec(compile(SEED_SOURCE, "seed_example.py", "exec"), ns)
    adapter = ns["MyAdapter"]()
    tools = discover_tools(adapter)
    assert set(tools) == {"predict"}
    t = tools["predict"]
    assert t.thread_safe and t.description == "Run inference"
    assert t.func(input_data=[1, 2, 3]) == {"prediction": [2, 4, 6]}

    threads = [threading.Thread(target=lambda: [t.func(input_data=[1]) for _ in range(100)]) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert adapter.request_count == 401
