"""An adapter whose tools leave processes running in every way a tool can, for the tests that
check a worker's descendants all end with it. Each tool returns the pids it left behind."""
import json
import multiprocessing
import os
import signal
import subprocess
import threading
import time

from snakepit_bridge import BaseAdapter, tool


def _stat(pid):
    """(state, ppid) of a live process, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1])


def _fd_links(pid="self"):
    links = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            links[int(fd)] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            pass
    return links


class Spawner(BaseAdapter):
    def __init__(self):
        super().__init__()
        self._keep = []  # multiprocessing handles, so nothing of ours joins or collects them

    @tool
    def fork_sleeper(self):
        """os.fork(): a copy of the worker that sleeps, in the worker's process group."""
        pid = os.fork()
        if pid == 0:
            try:
                time.sleep(300)
            finally:
                os._exit(0)
        return pid

    @tool
    def fork_heavy_sleeper(self, mib):
        """os.fork(): a copy of the worker holding `mib` MiB of written memory, in the worker's
        process group. Killed, it takes a while to die: the kernel frees every page first."""
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                held = b"\x01" * (int(mib) << 20)
                os.write(write_end, b"1")
                time.sleep(300)
                del held
            finally:
                os._exit(0)
        os.close(write_end)
        os.read(read_end, 1)
        os.close(read_end)
        return pid

    @tool
    def process_sleepers(self):
        """multiprocessing Processes that sleep: one forked, one spawned (a fresh interpreter)."""
        pids = []
        for method in ("fork", "spawn"):
            process = multiprocessing.get_context(method).Process(target=time.sleep, args=(300,), daemon=False)
            process.start()
            self._keep.append(process)
            pids.append(process.pid)
        return pids

    @tool
    def session_sleeper(self):
        """A child in a session of its own: the worker's process group does not reach it."""
        return subprocess.Popen(["sleep", "300"], start_new_session=True).pid

    @tool
    def stubborn_sleeper(self):
        """In its own session and ignoring SIGTERM."""
        return subprocess.Popen(["sh", "-c", "trap '' TERM; exec sleep 300"], start_new_session=True).pid

    @tool
    def env_cleared_sleeper(self):
        """In its own session, with an empty environment."""
        return subprocess.Popen(["sleep", "300"], env={}, start_new_session=True).pid

    @tool
    def orphan_sleeper(self):
        """A grandchild whose parent exits at once (a daemon's double fork), in its own session.

        Returns its pid and its parent after the orphaning: the worker, which is a subreaper."""
        out = subprocess.run(
            ["sh", "-c", "setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $!"],
            capture_output=True, text=True, check=True,
        ).stdout
        pid = int(out.strip())
        stat = _stat(pid)
        return {"pid": pid, "ppid": stat[1] if stat else None}

    @tool
    def respawner(self):
        """A shell in its own session that starts a new sleeper every 20 ms."""
        return subprocess.Popen(
            ["sh", "-c", "while :; do sleep 300 & sleep 0.02; done"], start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ).pid

    @tool
    def child_from_ended_thread(self, code):
        """A child started by a thread that has ended: it is left to the main thread, like an
        adopted orphan, yet its Popen will still wait for it."""
        started = []
        thread = threading.Thread(target=lambda: started.append(subprocess.Popen(["sh", "-c", f"exit {int(code)}"])))
        thread.start()
        thread.join()
        self._keep.append(started[0])
        return started[0].pid

    @tool
    def wait_child(self, pid):
        """The exit code of a child started by child_from_ended_thread."""
        child = next(p for p in self._keep if isinstance(p, subprocess.Popen) and p.pid == pid)
        return child.wait(10)

    @tool
    def descendants(self):
        """Every live process whose ancestry leads to this worker."""
        children = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                stat = _stat(int(entry))
                if stat and stat[0] != "Z":
                    children.setdefault(stat[1], []).append(int(entry))
        found, stack = [], [os.getpid()]
        while stack:
            for child in children.get(stack.pop(), []):
                found.append(child)
                stack.append(child)
        return sorted(found)

    @tool
    def spawn_all(self):
        """All of the above at once; `all` lists every descendant, the watchdog included."""
        pids = {
            "fork": [self.fork_sleeper()],
            "multiprocessing": self.process_sleepers(),
            "new_session": [self.session_sleeper()],
            "ignores_sigterm": [self.stubborn_sleeper()],
            "orphan": [self.orphan_sleeper()["pid"]],
        }
        return {"worker": os.getpid(), "pids": pids, "all": self.descendants()}

    @tool
    def fork_report(self):
        """What a forked child keeps of the worker: its signal handlers and its open fds."""
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(read_end)
                report = {
                    "sigterm_default": signal.getsignal(signal.SIGTERM) == signal.SIG_DFL,
                    "sighup_default": signal.getsignal(signal.SIGHUP) == signal.SIG_DFL,
                    "fd_links": list(_fd_links().values()),
                }
                os.write(write_end, json.dumps(report).encode())
            finally:
                os._exit(0)
        os.close(write_end)
        chunks = []
        while chunk := os.read(read_end, 65536):
            chunks.append(chunk)
        os.close(read_end)
        os.waitpid(pid, 0)
        report = json.loads(b"".join(chunks))
        report["worker_fd_links"] = _fd_links()
        report["worker_sigterm_default"] = signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        return report


class FailsAfterSpawning(BaseAdapter):
    """Starts a child in its own session, writes its pid to $SPAWNED_PID_FILE, then fails to start."""

    def __init__(self):
        super().__init__()
        child = subprocess.Popen(["sleep", "300"], start_new_session=True)
        with open(os.environ["SPAWNED_PID_FILE"], "w") as f:
            f.write(str(child.pid))
        raise RuntimeError("adapter failed after starting a child")
