"""Ending every process a worker started, however deep it is and wherever it moved.

Two ways to find a worker's descendants, for the two ways a worker ends:
- while the worker runs its own exit, by ancestry: the worker is a child subreaper, so an
  orphaned grandchild is re-parented to it instead of to init, and every descendant, also
  one that left the process group (setsid) or ignores SIGTERM, has an ancestry leading to it;
- once the worker has died without running any code of ours (SIGKILL, a native crash), by a
  watchdog: a fork of the worker made before anything else runs in it (start_watchdog), in its
  own session so that the kill of the worker's group spares it. It waits for the worker to end and then ends what is left:
  processes carrying the worker's mark in their environment (set in os.environ, so every
  exec'd descendant inherits it), forks that share the worker's own environment block, and
  descendants of the worker's direct children as last seen by a poll.

Killing is freeze-then-kill in rounds: SIGSTOP the processes found and their children until
the set stops growing, then SIGKILL them all, then look again, so a process that forks while
we kill cannot leave a child behind.
"""
from __future__ import annotations

import os
import select
import sys
import time

# Every worker imports this module before it is ready, so it imports nothing it does not use:
# not typing (annotations stay strings), and not `signal`, whose enums cost milliseconds:
# `_signal` has the same functions, with the signals as plain ints.
import _signal as signal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Iterable

MARK_ENV = "SNAKEPIT_WORKER_MARK"
# Whoever starts a worker gives it a nonce (not a secret) in its environment, which makes its
# environment block unique: a process with the same block is a fork of that worker.
NONCE_ENV = "SNAKEPIT_WORKER_NONCE"
NONCE_IN_ENV = f"{NONCE_ENV}=".encode()
WATCH_POLL_S = 0.5  # how often the watchdog notes the worker's direct children
SWEEP_TIMEOUT_S = 10.0
PR_SET_CHILD_SUBREAPER = 36
WATCHDOG_NAME = "snakepit-watch"  # /proc/<pid>/comm of a worker's watchdog


class Proc:
    __slots__ = ("ppid", "state", "start")

    def __init__(self, ppid: int, state: str, start: int):
        self.ppid = ppid
        self.state = state
        self.start = start  # start time in clock ticks since boot: tells a reused pid apart


def read_proc(pid: int) -> Proc | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
    except OSError:
        return None
    # The command name is in parentheses and may itself contain ") ": split after the last one.
    fields = stat[stat.rfind(")") + 2:].split()
    try:
        return Proc(ppid=int(fields[1]), state=fields[0], start=int(fields[19]))
    except (IndexError, ValueError):
        return None


def snapshot(born_since: int = 0) -> dict[int, Proc]:
    """Live processes started at or after `born_since` (zombies left out: they are dead already).

    A descendant never starts before its ancestor, so passing the ancestor's start time
    leaves out the rest of a busy machine, and with it most of the costly looks.
    """
    procs: dict[int, Proc] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            proc = read_proc(int(entry))
            if proc is not None and proc.start >= born_since and proc.state not in ("Z", "X", "x"):
                procs[int(entry)] = proc
    return procs


def descendants(roots: Iterable[int], procs: dict[int, Proc]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, proc in procs.items():
        children.setdefault(proc.ppid, []).append(pid)
    found: set[int] = set()
    stack = list(roots)
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def direct_children(pid: int) -> set[int]:
    """Children of every thread of `pid` (a child belongs to the thread that forked it)."""
    found: set[int] = set()
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                found.update(int(p) for p in f.read().split())
        except OSError:
            pass
    return found


def read_environ(pid: int) -> bytes | None:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read()
    except OSError:  # gone, or another user's process
        return None


def signal_exact(pid: int, start: int, sig: int) -> bool:
    """Signals `pid` only if it is still the process that started at `start`."""
    pidfd = None
    if hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(pid)  # pins the process: the pid cannot be reused under us
        except OSError:
            pidfd = None
    try:
        current = read_proc(pid)
        if current is None or current.start != start:
            return False
        if pidfd is not None:
            signal.pidfd_send_signal(pidfd, sig)
        else:
            os.kill(pid, sig)
        return True
    except OSError:
        return False
    finally:
        if pidfd is not None:
            os.close(pidfd)


def sweep(find: Callable[[dict[int, Proc]], set[int]], spare: frozenset[int] = frozenset(),
          born_since: int = 0, timeout: float = SWEEP_TIMEOUT_S) -> int:
    """Kills what `find` names and all their descendants, again and again until none is left.

    `find` sees the processes started since `born_since`. Returns how many processes were
    killed; stops trying after `timeout` seconds.
    """
    killed = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs = snapshot(born_since)
        targets = {pid for pid in find(procs) if pid in procs} - spare
        if not targets:
            return killed
        # Freeze first: a stopped process cannot fork, and its children keep it as parent,
        # so the tree can be walked to its end before anything is killed.
        frozen: dict[int, int] = {}
        while targets:
            for pid in targets:
                if signal_exact(pid, procs[pid].start, signal.SIGSTOP):
                    frozen[pid] = procs[pid].start
            procs = snapshot(born_since)
            targets = ((find(procs) | descendants(frozen, procs)) & procs.keys()) - spare - frozen.keys()
            if time.monotonic() >= deadline:
                break
        for pid, start in frozen.items():
            if signal_exact(pid, start, signal.SIGKILL):
                killed += 1
        if not frozen:
            time.sleep(0.01)  # they exited between our look and our signal; look again
    return killed


def descendants_of_self(spare: frozenset[int] = frozenset(), timeout: float = SWEEP_TIMEOUT_S) -> int:
    """Kills every descendant of this process (except `spare`); returns how many."""
    if not sys.platform.startswith("linux"):
        return 0  # no /proc to walk
    me = os.getpid()
    own = read_proc(me)
    return sweep(lambda procs: descendants((me,), procs), spare | {me}, own.start if own else 0, timeout)


def become_subreaper() -> bool:
    """Orphans among our descendants are re-parented to us, not to init (Linux 3.4+)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except Exception:
        return False


# -- orphans adopted as a subreaper ----------------------------------------------------------
def zombie_children_of_main_thread() -> list[tuple[int, int]]:
    """Dead children waiting on our main thread: (pid, start) pairs.

    Orphans re-parented to a subreaper become children of its main thread; so do children of
    a thread that has exited. Children of a running tool thread are listed under that thread.
    """
    me = os.getpid()
    try:
        with open(f"/proc/{me}/task/{me}/children", "rb") as f:
            pids = [int(p) for p in f.read().split()]
    except OSError:
        return []
    found = []
    for pid in pids:
        proc = read_proc(pid)
        if proc is not None and proc.state == "Z":
            found.append((pid, proc.start))
    return found


def pids_python_waits_for() -> set[int]:
    """Children some Python object in this process will still wait for: not ours to reap.

    Reaping such a child would make subprocess report exit code 0 for it, whatever it was.
    """
    import gc

    pids: set[int] = set()
    mp_process = sys.modules.get("multiprocessing.process")
    for child in list(getattr(mp_process, "_children", ()) or ()):
        pid = getattr(getattr(child, "_popen", None), "pid", None)
        if isinstance(pid, int):
            pids.add(pid)
    sp = sys.modules.get("subprocess")
    if sp is not None:
        for obj in gc.get_objects():
            if isinstance(obj, sp.Popen) and obj.returncode is None and isinstance(obj.pid, int):
                pids.add(obj.pid)
    return pids


def reap_adopted_orphans(claimed: set[tuple[int, int]]) -> list[int]:
    """Collects the exit status of adopted orphans that have died; returns their pids.

    `claimed` remembers zombies that Python code will wait for, so the (costly) look for
    such code runs once per zombie, not on every pass.
    """
    zombies = zombie_children_of_main_thread()
    claimed.intersection_update(zombies)
    candidates = [z for z in zombies if z not in claimed]
    if not candidates:
        return []
    waited_for = pids_python_waits_for()
    reaped = []
    for pid, start in candidates:
        if pid in waited_for:
            claimed.add((pid, start))
            continue
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                reaped.append(pid)
        except ChildProcessError:
            pass
    return reaped


# -- the watchdog: started by the worker ------------------------------------------------------
def start_watchdog(mark: str, fresh: bool = False) -> tuple[int, int] | None:
    """Starts the watchdog for this process; returns its pid and the pipe end that keeps it
    waiting. Call before any thread starts.

    A fork, not a fresh interpreter: it costs no start-up (a new Python would spend ≈ 15 ms of
    CPU beside every starting worker), and its name in /proc/<pid>/comm is WATCHDOG_NAME. But a
    worker forked from a preloading fork server holds the whole model: forking it again copies
    the page tables of every shared page (≈ 20 ms for 500 MB), on the path of every restart, so
    there (`fresh`) the watchdog is a fresh interpreter, started without copying anything
    (posix_spawn) while the worker goes on. The returned fd must stay open for the worker's
    whole life and be closed in forked children: the watchdog sees end-of-file once the worker
    is gone.
    """
    if not sys.platform.startswith("linux"):
        return None
    worker_pid = os.getpid()
    read_end, write_end = os.pipe()
    try:
        pid = _spawn_watchdog(worker_pid, mark, read_end) if fresh else os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return None
    if pid == 0:
        _become_watchdog(worker_pid, mark, read_end)
    os.close(read_end)
    return pid, write_end


def _spawn_watchdog(worker_pid: int, mark: str, read_end: int) -> int:
    """A fresh interpreter that becomes the watchdog: isolated (-I -S: no site, no environment of
    ours, so its own block matches nothing it looks for), the pipe end its only fd of ours."""
    bridge_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = (f"import sys; sys.path.insert(0, {bridge_dir!r}); from snakepit_bridge.reaper import _become_watchdog; "
            f"_become_watchdog({worker_pid}, {mark!r}, {read_end})")
    os.set_inheritable(read_end, True)
    return os.posix_spawn(sys.executable, [sys.executable, "-I", "-S", "-c", code], {})


def _become_watchdog(worker_pid: int, mark: str, fd: int) -> None:
    """The forked child's whole life: never returns to the worker's code."""
    code = 1
    try:
        os.setsid()  # outside the worker's group, so the group's SIGKILL spares it
        _rename(f"{WATCHDOG_NAME} --watch {worker_pid}")
        null = os.open(os.devnull, os.O_RDWR)
        for std in (0, 1, 2):
            os.dup2(null, std)
        for other in os.listdir("/proc/self/fd"):  # the worker's sockets and pipes are not ours
            if int(other) > 2 and int(other) != fd:
                try:
                    os.close(int(other))
                except OSError:
                    pass
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # outlives the worker by design; ends on its own
        code = watch(worker_pid, mark, fd)
    finally:
        os._exit(code)


def _rename(title: str) -> None:
    """Names this process in ps and /proc (comm and cmdline), so that a fork of the worker is
    not taken for a worker: the command line's bytes are overwritten where the kernel reads them."""
    try:
        with open("/proc/self/comm", "w") as comm:
            comm.write(title.split()[0])
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end: fields 48 and 49 of stat
        import ctypes

        text = title.replace(" ", "\0").encode()[: end - start - 1]
        ctypes.memmove(start, text + b"\0" * (end - start - len(text)), end - start)
    except (OSError, ImportError, ValueError, IndexError):
        pass  # a name is a courtesy: the watchdog works without it


def _worker_alive(pid: int, start: int) -> bool:
    proc = read_proc(pid)
    return proc is not None and proc.start == start and proc.state not in ("Z", "X", "x")


def watch(worker_pid: int, mark: str, fd: int) -> int:
    """The watchdog's life: wait for the worker to end, then end what it left."""
    worker = read_proc(worker_pid)
    me = os.getpid()
    marker = f"{MARK_ENV}={mark}".encode()
    block = read_environ(worker_pid)
    if block is not None and NONCE_IN_ENV not in block:
        block = None  # without the nonce the block is not unique to this worker
    known: dict[int, int] = {}  # the worker's direct children: pid -> start
    link_open = True
    while worker is not None and _worker_alive(worker_pid, worker.start):
        if link_open:
            ready, _, _ = select.select([fd], [], [], WATCH_POLL_S)
            if ready and not os.read(fd, 64):
                link_open = False  # the worker is exiting; its zombie state follows shortly
        else:
            time.sleep(0.01)
        if link_open:
            for pid in direct_children(worker_pid):
                proc = read_proc(pid)
                if proc is not None and pid != me:
                    known[pid] = proc.start
            known = {pid: start for pid, start in known.items() if _worker_alive(pid, start)}

    def left_behind(procs: dict[int, Proc]) -> set[int]:
        roots = {pid for pid, start in known.items() if pid in procs and procs[pid].start == start}
        for pid in procs:
            env = read_environ(pid)
            if env is not None and (marker in env.split(b"\0") or (block is not None and env == block)):
                roots.add(pid)
        return roots | descendants(roots, procs)

    sweep(left_behind, frozenset({me}), worker.start if worker is not None else 0)
    return 0


