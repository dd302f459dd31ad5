"""An adapter for the prefetch tests: every call notes its start in a journal file, so a test
can tell which calls ran, in which order, in whichever process."""
import os
import signal
import time

from snakepit_bridge import BaseAdapter, tool


class Journal(BaseAdapter):
    @tool
    def run(self, journal, tag, seconds=0, data=None, reply_bytes=0):
        with open(journal, "a") as f:
            f.write(f"{tag}\n")
        time.sleep(seconds)
        if reply_bytes:  # a reply that takes a while to leave the process
            return {"tag": tag, "pid": os.getpid(), "padding": "x" * reply_bytes}
        return {"tag": tag, "pid": os.getpid()}

    @tool
    def die_once(self, journal, tag, marker):
        """Notes its start, then kills its own process unless `marker` exists (it makes it)."""
        with open(journal, "a") as f:
            f.write(f"{tag}\n")
        if not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        return {"tag": tag, "pid": os.getpid()}
