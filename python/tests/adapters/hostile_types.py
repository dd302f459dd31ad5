"""Adapters whose hints, or whose module, get in the way of `snakepit types`."""
from __future__ import annotations

import os
from typing import List, Literal, Optional, TypedDict

from snakepit_bridge import BaseAdapter, tool

# A C library's banner at import: written to the file descriptor, past sys.stdout, no newline.
os.write(1, b"banner of a C extension")


class Tree(TypedDict):
    label: str
    children: List[Tree]


class Ping(TypedDict):
    pong: Optional[Pong]


class Pong(TypedDict):
    ping: Ping


class Hostile(BaseAdapter):
    @tool
    def walk(self, tree: Tree) -> Optional[Tree]:
        return tree

    @tool
    def rally(self, ping: Ping) -> int:
        return 0

    @tool
    def flag(self, on: Literal[0, False, 1, True]) -> bool:
        return True

    @tool
    def limit(self, x: Literal[1.5, float("inf")]) -> None:
        return None


class Ünïcode(BaseAdapter):
    @tool(name="class")
    def klass(self, ñame: str, quoted: Literal['say "hi"\n', "it's", "*/"] = "it's") -> Tree:
        """Ends a comment */ and opens one /* on two
        lines."""
        return {"label": ñame, "children": []}

    @tool(name="a-b")
    def dashed(self, κ: Optional[Ping] = None) -> List[Literal["\u2028", "\\"]]:
        return []
