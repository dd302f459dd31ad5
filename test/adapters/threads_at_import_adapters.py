"""An adapter module that starts a thread at import, as OpenMP or a client library's pool does:
a fork server refuses to fork from it (test/preload.test.ts)."""
import os
import threading

from snakepit_bridge import BaseAdapter, tool

_background = threading.Event()
threading.Thread(target=_background.wait, name="started-at-import", daemon=True).start()


class ThreadsAtImport(BaseAdapter):
    @tool
    def pid(self) -> int:
        return os.getpid()
