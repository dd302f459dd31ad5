"""Large calls whose arguments arrive in parts (Call.args_size > 0, then ArgsPart messages).

A call runs once all its argument bytes are here. Nothing beyond the worker's message limit is
ever buffered: an oversized call is refused from its announced size, before any part arrives.
"""
from __future__ import annotations

from typing import Any

from . import messages as pb
from .dispatch import too_large_reply


class PartialCalls:
    def __init__(self, max_message: int):
        self.max_message = max_message
        self._calls: dict[int, tuple[Any, bytearray]] = {}

    def start(self, call) -> Any:
        """Begins collecting a large call's arguments; returns an error reply if it is refused."""
        if call.args_size > self.max_message:
            return too_large_reply(call.id, "arguments", call.args_size, self.max_message)
        self._calls[call.id] = (call, bytearray())
        return None

    def add(self, part) -> tuple[Any, Any] | None:
        """Adds a part; (call, args Value) once the call's arguments are complete."""
        entry = self._calls.get(part.id)
        if entry is None:
            return None  # cancelled or refused: its remaining parts are dropped
        call, data = entry
        data += part.data
        if len(data) < call.args_size:
            return None
        del self._calls[part.id]
        return call, pb.parse(pb.Value, bytes(data))

    def drop(self, call_id: int) -> bool:
        """Forgets a call still collecting (cancelled); True if there was one."""
        return self._calls.pop(call_id, None) is not None
