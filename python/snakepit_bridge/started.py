"""Which calls a process worker has started, kept where Node can read it after the worker dies.

A process worker runs its calls one at a time. Before it starts one it stores the call's id in
an 8-byte file Node made for it (`--started-file`), through a shared mapping: a store to
memory, no system call, and it outlives a `kill -9` because the page belongs to the file. Once
the worker is dead, Node reads the file: of the calls it had sent, those with a higher id never
started and may run on another worker; the others may have run, so they never run again. A
call whose arguments came in parts may start after calls sent behind it, so the file holds the
highest id started, not the last.
"""
from __future__ import annotations

import mmap
import os
import struct

_ID = struct.Struct("<Q")


class StartedCalls:
    def __init__(self, path: str):
        fd = os.open(path, os.O_RDWR)
        try:
            self._map = mmap.mmap(fd, _ID.size)
        finally:
            os.close(fd)
        self._highest = 0

    def started(self, call_id: int) -> None:
        if call_id > self._highest:
            self._highest = call_id
            _ID.pack_into(self._map, 0, call_id)


class Unrecorded:
    """Where nobody reads it (the thread profile, a worker run by hand): nothing is kept."""

    @staticmethod
    def started(call_id: int) -> None:
        pass


def started_calls(path: str | None) -> StartedCalls | Unrecorded:
    return StartedCalls(path) if path else Unrecorded()
