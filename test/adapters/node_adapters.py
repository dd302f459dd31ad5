"""Adapters used only by the Node test suite."""
import os

from snakepit_bridge import BaseAdapter, ThreadSafeAdapter, thread_safe_method, tool

THREAD_VARS = (
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OMP_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


class EnvProbe(BaseAdapter):
    @tool(description="The thread-pool variables and any other requested variables this worker sees")
    def env(self, names=()):
        wanted = list(THREAD_VARS) + list(names)
        return {name: os.environ.get(name) for name in wanted}


class EnvironmentBlocks(BaseAdapter):
    @tool(description="The environments the kernel shows: this worker's, a child's own, and this worker's read by a child")
    def environ_blocks(self):
        import subprocess

        def run(*argv: str) -> str:
            return subprocess.run(argv, capture_output=True, check=True).stdout.decode(errors="replace")

        with open("/proc/self/environ", "rb") as f:
            own = f.read().decode(errors="replace")
        return {"own": own, "child": run("cat", "/proc/self/environ"), "worker_seen_by_child": run("cat", f"/proc/{os.getpid()}/environ")}


class CrashesOnFirstCall(BaseAdapter):
    """Dies on every call: drives the restart-intensity tests."""

    @tool
    def die(self):
        os._exit(3)

    @tool
    def ping(self):
        return "pong"


class ThreadEnvProbe(ThreadSafeAdapter):
    __thread_safe__ = True

    @thread_safe_method
    @tool(description="The thread-pool variables this worker sees")
    def env(self):
        return {name: os.environ.get(name) for name in THREAD_VARS}


class FailsAfterFirstBoot(BaseAdapter):
    """Starts once; every later start raises (the marker file says it already booted)."""

    def __init__(self):
        super().__init__()
        marker = os.environ["BOOT_MARKER"]
        if os.path.exists(marker):
            raise RuntimeError("cannot start again")
        open(marker, "w").close()

    @tool
    def ping(self):
        return "pong"
