"""Tools that use their call's context (ctx): cancellation, deadlines, sessions, progress and
calls back into Node, for both profiles."""
import os
import time

from snakepit_bridge import BaseAdapter, NodeError, ThreadSafeAdapter, tool


class _Tools:
    seen: list = []  # what cooperative calls saw, for a later call in the same process to read

    @tool
    def cooperative(self, seconds, label, ctx):
        """Works for `seconds` unless cancelled, and records which happened."""
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            if ctx.cancelled:
                self.seen.append({"label": label, "cancelled": True, "after_s": time.monotonic() - started})
                return "stopped"
            time.sleep(0.005)
        self.seen.append({"label": label, "cancelled": False, "after_s": time.monotonic() - started})
        return "finished"

    @tool
    def cooperative_stream(self, seconds, label, ctx):
        """Yields once, then works inside one step of the generator until done or cancelled."""
        yield "started"
        yield self.cooperative(seconds, label, ctx)

    @tool
    def seen_log(self):
        return list(self.seen)

    @tool
    def stubborn(self, seconds):
        """Ignores cancellation."""
        time.sleep(seconds)
        return os.getpid()

    @tool
    def pid(self):
        return os.getpid()

    @tool
    def whoami(self, ctx):
        return {"session_id": ctx.session_id, "remaining": ctx.time_remaining(), "cancelled": ctx.cancelled}

    @tool
    def report(self, n, ctx):
        for i in range(1, n + 1):
            ctx.progress(i, n, f"step {i}")
        ctx.progress(0.5)
        return "done"

    @tool
    def report_stream(self, n, ctx):
        for i in range(n):
            ctx.progress(i + 1, n)
            yield i

    @tool
    def bad_progress(self, ctx):
        ctx.progress("half")

    @tool
    def ask_node(self, name, ctx, **kwargs):
        return ctx.call(name, **kwargs)

    @tool
    def ask_node_catching(self, name, ctx, **kwargs):
        try:
            return {"ok": ctx.call(name, **kwargs)}
        except NodeError as e:
            return {"error": str(e), "code": e.code, "type": e.type}

    @tool
    def chain(self, depth, ctx):
        """[pid] at the bottom; above it, this pid then what Node's `descend` returned."""
        if depth <= 1:
            return [os.getpid()]
        return [os.getpid(), *ctx.call("descend", depth=depth - 1)]

    @tool
    def fail(self, message):
        raise ValueError(message)

    @tool
    def counter(self, n, progress_file):
        """Yields 0..n-1, writing how many it has produced so far to `progress_file`."""
        for i in range(n):
            with open(progress_file, "w") as f:
                f.write(str(i + 1))
            yield i


class Contextual(_Tools, BaseAdapter):
    pass


class ThreadedContextual(_Tools, ThreadSafeAdapter):
    pass
