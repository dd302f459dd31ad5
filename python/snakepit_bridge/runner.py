"""Turning one Call into Replies: find the tool, check its arguments, run it, encode the outcome.

Shared by both session variants. Error codes: TOOL_NOT_FOUND, INVALID_ARGUMENT (the arguments
cannot be decoded or do not fit the tool's signature; checked before calling so a TypeError
raised inside the tool stays a PYTHON_ERROR), PYTHON_ERROR (the tool raised), MESSAGE_TOO_LARGE
(a result over the worker's limit), CANCELLED. No call can take the worker down: whatever fails
while handling it, even an exception that cannot be printed, or SystemExit and KeyboardInterrupt
raised by the tool (a library calling sys.exit()), becomes that call's reply; the message and
traceback are cut to their budget (textbudget.py). Only os._exit ends the worker.
"""
from __future__ import annotations

from . import codec, frames
from .textbudget import cut_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterator


def error_reply(call_id: int, code: str, type_: str, message: str, tb: str = "") -> bytes:
    return frames.error(call_id, code, type_, cut_text(message), cut_text(tb))


def exception_reply(call_id: int, exc: BaseException) -> Any:
    return error_reply(call_id, "PYTHON_ERROR", _type_name(exc), _message(exc), _traceback(exc))


def _message(exc: BaseException) -> str:
    """The exception's text; for the two that would end a process, also that this one did not."""
    if isinstance(exc, SystemExit):
        return f"the tool called sys.exit({_repr(exc.code)}); a tool cannot end its worker, so this call fails and the worker serves on"
    if isinstance(exc, KeyboardInterrupt):
        return f"KeyboardInterrupt raised in the tool{': ' + _text(exc) if exc.args else ''}; this call fails and the worker serves on"
    return _text(exc)


def _type_name(exc: BaseException) -> str:
    try:
        return str(type(exc).__name__)
    except BaseException:  # noqa: BLE001
        return "Exception"


def _text(exc: BaseException) -> str:
    try:
        return str(exc)
    except BaseException as e:  # noqa: BLE001 - a __str__ that raises must not cost the reply
        return f"<the exception's message could not be made: its __str__ raised {_type_name(e)}>"


def _repr(value: Any) -> str:
    try:
        return repr(value)
    except BaseException:  # noqa: BLE001
        return "…"


def _traceback(exc: BaseException) -> str:
    import traceback  # here: only failing calls need it, and it costs every worker's start ≈ 3 ms

    try:
        # The three-argument form: the one-argument form is Python 3.10+.
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except BaseException:  # noqa: BLE001
        return ""


def too_large_reply(call_id: int, what: str, size: int, limit: int) -> Any:
    return error_reply(
        call_id, "MESSAGE_TOO_LARGE", "MessageTooLarge",
        f"the {what} takes {size} bytes, over the pool's maxMessageBytes ({limit})",
    )


def cancelled_reply(call_id: int) -> Any:
    return error_reply(call_id, "CANCELLED", "Cancelled", "the call was cancelled before it finished")


def unstarted_reply(call_id: int) -> Any:
    """A reclaimed call dropped before it started: Node may run it elsewhere."""
    return error_reply(call_id, "UNSTARTED", "Unstarted", "the worker handed the call back without starting it")


class _TooLarge(Exception):
    def __init__(self, reply: Any):
        super().__init__()
        self.reply = reply


class CallRunner:
    """Runs single calls of one adapter's tools (find, check, run, encode) for every kind of session."""

    def __init__(self, tools: dict, checker=None, max_message: int = 256 * 1024 * 1024):
        self.tools = tools
        self._available = ", ".join(sorted(tools)) or "(none)"
        self.checker = checker
        self.max_message = max_message

    def prepare(self, call, args=None) -> tuple[Any, Any]:
        """(tool, kwargs) ready to run, or (None, error reply). `args`: a Value assembled from parts."""
        tool = self.tools.get(call.tool)
        if tool is None:
            return None, error_reply(
                call.id, "TOOL_NOT_FOUND", "ToolNotFound",
                f"no tool named {call.tool!r}; available tools: {self._available}",
            )
        if args is None:
            args = call.args
        raw = args.json  # each access copies: read it once
        try:
            kwargs = codec.decode(raw, args.blobs) if b'bytes"' in raw else codec.loads(raw) if raw else {}
        except RecursionError:
            return None, error_reply(call.id, "INVALID_ARGUMENT", "RecursionError", f"{tool.name}: the arguments are nested too deeply to decode")
        except BaseException as e:  # noqa: BLE001 - undecodable arguments fail their call, never the worker
            return None, error_reply(call.id, "INVALID_ARGUMENT", _type_name(e), f"{tool.name}: the arguments cannot be decoded: {_text(e)}")
        if kwargs is None:
            kwargs = {}
        if not isinstance(kwargs, dict):
            return None, error_reply(
                call.id, "INVALID_ARGUMENT", "TypeError",
                f"{tool.name}: arguments must be a JSON object of keyword arguments, got {type(kwargs).__name__}",
            )
        if tool.wants_ctx and "ctx" in kwargs:
            return None, error_reply(call.id, "INVALID_ARGUMENT", "TypeError", f"{tool.name}({tool.param_text}): ctx is the call's context, given by the bridge; rename the argument")
        if tool.bound_names and not tool.bound_names.isdisjoint(kwargs):
            names = ", ".join(sorted(tool.bound_names.intersection(kwargs)))
            return None, error_reply(call.id, "INVALID_ARGUMENT", "TypeError", f"{tool.name}({tool.param_text}): {names} is not an argument of this tool")
        return tool, kwargs

    def _encoded(self, call_id: int, what: str, out: Any):
        """(json, blobs); raises _TooLarge with the reply when they exceed the limit."""
        data, blobs = codec.encode(out)
        size = len(data) + sum(map(len, blobs)) if blobs else len(data)
        if size > self.max_message:
            raise _TooLarge(too_large_reply(call_id, what, size, self.max_message))
        return data, blobs

    def bad_arguments(self, call_id: int, tool, kwargs: dict, exc: TypeError) -> Any:
        """The INVALID_ARGUMENT reply if `kwargs` do not fit the tool's signature, else None.

        Checked only after a call raised TypeError, so the common path pays nothing: arguments
        that do not bind fail before the tool's body runs, so nothing has happened yet.
        """
        try:
            tool.signature.bind(**kwargs)
        except TypeError as e:
            return error_reply(call_id, "INVALID_ARGUMENT", "TypeError", f"{tool.name}({tool.param_text}): {e}")
        return None

    # -- unary ------------------------------------------------------------------------------
    def run_unary(self, call_id: int, tool, kwargs: dict) -> Any:
        checker = self.checker
        token = checker.enter(tool) if checker is not None else None
        try:
            out = tool.func(**kwargs)
            if tool.streaming:
                out = list(out)  # a generator tool called without streaming: all chunks at once
            data, blobs = self._encoded(call_id, "result", out)
        except _TooLarge as e:
            return e.reply
        except TypeError as e:
            return self.bad_arguments(call_id, tool, kwargs, e) or exception_reply(call_id, e)
        except BaseException as e:  # noqa: BLE001 - every failure becomes a reply, the worker lives on
            return exception_reply(call_id, e)
        finally:
            if token is not None:
                checker.exit(tool, token)
        return frames.result(call_id, data, blobs)

    # -- streaming --------------------------------------------------------------------------
    def run_stream(self, call_id: int, tool, kwargs: dict, cancelled: Callable[[], bool],
                   room: Callable[[Callable[[], bool]], bool] | None = None) -> Iterator[Any]:
        """Yield one chunk reply per value, then exactly one final reply (end, error or CANCELLED).

        `room` (credit.py) waits until Node has room for one more chunk before the generator is
        resumed; it returns False if the call was cancelled meanwhile.
        """
        checker = self.checker
        token = checker.enter(tool) if checker is not None else None
        try:
            try:
                try:
                    out = tool.func(**kwargs)
                except TypeError as e:
                    bad = self.bad_arguments(call_id, tool, kwargs, e)
                    if bad is None:
                        raise
                    yield bad
                    return
                if not tool.streaming:
                    data, blobs = self._encoded(call_id, "result", out)  # a plain tool streamed: one chunk
                    yield frames.chunk(call_id, data, blobs)
                    yield frames.end(call_id)
                    return
                it = iter(out)
                while True:
                    if cancelled() or (room is not None and not room(cancelled)):
                        close = getattr(out, "close", None)
                        if close is not None:
                            close()
                        yield cancelled_reply(call_id)
                        return
                    try:
                        item = next(it)
                    except StopIteration:
                        break
                    data, blobs = self._encoded(call_id, "chunk", item)
                    yield frames.chunk(call_id, data, blobs)
            except GeneratorExit:
                raise  # the session itself is closing this stream
            except _TooLarge as e:
                close = getattr(out, "close", None)
                if close is not None:
                    close()
                yield e.reply
                return
            except BaseException as e:  # noqa: BLE001
                yield exception_reply(call_id, e)
                return
            yield frames.end(call_id)
        finally:
            if token is not None:
                checker.exit(tool, token)
