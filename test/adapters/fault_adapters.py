"""Adapters for the Node fault tests: workers that start slowly, or not at all."""
import os
import time

from snakepit_bridge import BaseAdapter, tool


class Blockable(BaseAdapter):
    """Boots after BOOT_DELAY_S seconds; refuses to boot while the file BOOT_BLOCKER exists."""

    def __init__(self):
        super().__init__()
        time.sleep(float(os.environ.get("BOOT_DELAY_S", "0")))
        blocker = os.environ.get("BOOT_BLOCKER")
        if blocker and os.path.exists(blocker):
            raise RuntimeError("boot blocked by " + blocker)

    @tool
    def ping(self):
        return "pong"

    @tool
    def sleep(self, seconds, started=None):
        if started:  # tells the test the call has begun
            open(started, "w").close()
        time.sleep(seconds)
        return os.getpid()
