"""Tools with type hints of every kind `snakepit types` reads, in forms Python 3.8 evaluates."""
from __future__ import annotations

from typing import Any, Dict, Generator, Iterator, List, Literal, NewType, Optional, Sequence, Tuple, TypedDict, Union

from snakepit_bridge import BaseAdapter, tool

UserId = NewType("UserId", int)


class Point(TypedDict):
    x: float
    y: float


class Options(TypedDict, total=False):
    label: str
    tags: List[str]


class Shape(TypedDict):
    kind: Literal["circle", "square"]
    centre: Point
    options: Options


class Typed(BaseAdapter):
    @tool(description="Add two integers")
    def add(self, a: int, b: int) -> int:
        return a + b

    @tool
    def scale(self, points: List[Point], factor: float = 2.0) -> List[Point]:
        """Scale points away from the origin."""
        return [{"x": p["x"] * factor, "y": p["y"] * factor} for p in points]

    @tool
    def count(self, n: int, ctx=None) -> Iterator[int]:
        yield from range(n)

    @tool
    def words(self, text: str) -> Generator[Tuple[int, str], None, int]:
        for i, word in enumerate(text.split()):
            yield i, word
        return 0

    @tool
    def describe(self, shape: Shape, note: Optional[str] = None) -> Dict[str, Union[int, str, None]]:
        return {"kind": shape["kind"], "note": note, "tags": len(shape["options"].get("tags", []))}

    @tool
    def pick(self, mode: Literal["fast", "exact", 3, True, None]) -> Literal["ok"]:
        return "ok"

    @tool
    def blob(self, data: bytes, encoding: str = "utf-8") -> bytes:
        return data[::-1]

    @tool
    def user(self, user_id: UserId) -> Tuple[UserId, bool]:
        return user_id, True

    @tool
    def loose(self, anything, values: Sequence, mapping: dict, pair: tuple, **more) -> Any:
        return None

    @tool
    def nothing(self) -> None:
        return None

    @staticmethod
    @tool
    def static_echo(text: str) -> str:
        return text

    @classmethod
    @tool(name="class-name")
    def class_name(cls) -> str:
        return cls.__name__

    @tool(description="Two lines\n    and a */ that would end a comment")
    def noted(self) -> bool:
        return True

    def not_a_tool(self, x: int) -> int:
        return x


class Unmade(Typed):
    """Its __init__ fails: the types are read without creating an adapter."""

    def __init__(self):
        raise RuntimeError("never created by snakepit types")

    @tool
    def add(self, a: float, b: float) -> float:  # overrides Typed.add
        return a + b


class Modern(BaseAdapter):
    """Hints in 3.9 and 3.10 syntax: strings (from __future__ import annotations) that 3.8 cannot evaluate."""

    @tool
    def total(self, values: list[int], label: str | None = None) -> dict[str, int]:
        return {label or "total": sum(values)}

    @tool
    def first(self, values: List[int]) -> Optional[int]:
        return values[0] if values else None
