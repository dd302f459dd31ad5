"""The worker, and anything it started, exits when the Node parent goes away."""
import os
import time


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); look at its state.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_closing_control_kills_worker_and_grandchild(spawn):
    w = spawn("sample_adapters.Calc")
    child = w.session().call("spawn_child")
    assert isinstance(child, int) and _alive(child)
    w.control.close()  # what the kernel does when Node dies, even by SIGKILL
    assert w.proc.wait(5) != 0
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "grandchild survived"
