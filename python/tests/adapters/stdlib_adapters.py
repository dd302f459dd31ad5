"""Tools for the test that runs the local lane with grpc and protobuf blocked from import."""
import sys

from context_adapters import Contextual, ThreadedContextual
from snakepit_bridge import tool


class _Probe:
    @tool
    def blocked_loaded(self):
        """The top-level modules loaded that the local lane must not need."""
        return sorted({name.split(".")[0] for name in sys.modules} & {"grpc", "google"})

    @tool
    def heavy_loaded(self):
        """Modules that cost a worker's start milliseconds and that no call of plain tools needs."""
        return sorted(set(sys.modules) & {"inspect", "hmac", "_hashlib", "asyncio", "platform", "traceback", "argparse", "locale", "subprocess",
                                            "typing", "socket", "signal", "queue", "importlib", "selectors",
                                            "json", "re", "enum"})

    @tool
    def sizes(self, text, data):
        return [len(text), len(data)]


class Everything(_Probe, Contextual):
    pass


class ThreadedEverything(_Probe, ThreadedContextual):
    pass
