"""Thread-profile adapters for the Python tests only."""
import time

from snakepit_bridge import ThreadSafeAdapter, thread_safe_method, tool


class ThreadStreams(ThreadSafeAdapter):
    # Decorators in the other order from sample_adapters.Threaded on purpose.
    @tool
    @thread_safe_method
    def count(self, n):
        yield from range(n)

    @tool
    @thread_safe_method
    def forever(self):
        while True:
            yield time.time()
            time.sleep(0.01)

    @tool
    def fail(self):
        return {}["missing"]
