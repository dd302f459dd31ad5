"""Adapters for the Node wire tests: a worker that puts bytes on its Session stream that are
not a ServerFrame, as a bug or memory corruption in a bridge would."""
import os
import time

from snakepit_bridge import ThreadSafeAdapter, frames, thread_safe_method, tool
from snakepit_bridge.framesocket import FrameSocket

# A reply field whose declared length (127 bytes) runs past the end of the 4-byte frame.
NOT_A_FRAME = b"\x0a\x7f\x08\x01"


class Garbles(ThreadSafeAdapter):
    __thread_safe__ = True

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
    def garble_replies(self):
        """From now on every frame this worker writes is NOT_A_FRAME, starting with this reply's."""
        frames.frame = lambda replies: NOT_A_FRAME  # the gRPC response stream's frames
        frames.single = lambda reply: NOT_A_FRAME
        FrameSocket.write_reply = lambda fs, reply: fs.write(NOT_A_FRAME)  # replies on the local lane
        return "sent"
