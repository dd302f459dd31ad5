"""An adapter for the prefetch tests: every call notes its start in a journal file, so a test
can tell which calls ran, in which order, in whichever process."""
import os
import time

from snakepit_bridge import BaseAdapter, tool


class Journal(BaseAdapter):
    @tool
    def run(self, journal, tag, seconds=0, data=None):
        with open(journal, "a") as f:
            f.write(f"{tag}\n")
        time.sleep(seconds)
        return {"tag": tag, "pid": os.getpid()}
