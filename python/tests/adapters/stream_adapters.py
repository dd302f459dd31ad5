"""Extra adapters for the Python tests only."""
import os
import time

from snakepit_bridge import BaseAdapter, tool


class Streams(BaseAdapter):
    @tool
    def forever(self):
        i = 0
        while True:
            yield i
            i += 1
            time.sleep(0.01)

    @tool
    def nan(self):
        return {"x": float("nan")}

    @tool
    def env(self):
        return dict(os.environ)

    @tool
    def ping(self):
        return "pong"
