"""The budget of a text a call sends to Node: an exception's message and traceback, a progress
report's message. Each is cut to TEXT_BUDGET_BYTES of UTF-8 with a marker saying so, so one
call's text can never make a frame over the wire's limit and cost the worker (Node's side cuts
what its functions throw the same way, src/calls/safeText.ts).
"""
from __future__ import annotations

TEXT_BUDGET_BYTES = 1 << 20


def cut_text(text: str, budget: int = TEXT_BUDGET_BYTES) -> str:
    """`text` if its UTF-8 fits `budget` bytes, else its head and a marker, within `budget`."""
    if len(text) * 4 <= budget:  # no character takes more than 4 bytes
        return text
    data = text.encode("utf-8", "replace")
    if len(data) <= budget:
        return text
    marker = f" …[cut by snakepit: {len(data)} bytes, over the {budget}-byte budget]"
    head = data[: max(0, budget - len(marker.encode()))]
    return head.decode("utf-8", "ignore") + marker
