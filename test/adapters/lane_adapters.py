"""Adapters for the local-lane tests: what a worker has imported, and a worker whose frames'
length prefix lies, as a bug or memory corruption in a bridge would."""
import os
import sys
import time

from snakepit_bridge import ThreadSafeAdapter, lane, thread_safe_method, tool


def _grpc_modules():
    return sorted(m for m in sys.modules if m == "grpc" or m.startswith("grpc.") or m.startswith("grpc_"))


class Lane(ThreadSafeAdapter):
    __thread_safe__ = True

    @thread_safe_method
    @tool
    def grpc_modules(self):
        return _grpc_modules()

    @thread_safe_method
    @tool
    def sleep(self, seconds):
        time.sleep(seconds)
        return os.getpid()

    @thread_safe_method
    @tool
    def pid(self):
        return os.getpid()

    @thread_safe_method
    @tool
    def oversized_replies(self):
        """From now on every frame this worker writes claims 2^32 - 1 bytes."""
        def write(fs, payload):
            fs.sock.sendall(b"\xff\xff\xff\xff" + payload)

        lane.FrameSocket.write = write
        return "sent"
