"""An adapter whose import enables the GIL on a free-threaded build: it imports needs_gil, a C
extension without Py_mod_gil (test/fixtures/needsGil), built by the test into the folder
SNAKEPIT_TEST_NEEDS_GIL_DIR names."""
import os
import sys

sys.path.insert(0, os.environ["SNAKEPIT_TEST_NEEDS_GIL_DIR"])
import needs_gil  # noqa: E402

from snakepit_bridge import ThreadSafeAdapter, thread_safe_method, tool  # noqa: E402


class NeedsGil(ThreadSafeAdapter):
    __thread_safe__ = True

    @thread_safe_method
    @tool
    def answer(self):
        return needs_gil.answer()
