"""The bridge as a user installs it: `pip install <repo>/python` into a fresh virtualenv of their
own, then used from there, with no generation step, and its types seen by their type checker."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import PYTHON_DIR

PIP_TIMEOUT = 600  # wheels come from the package index: generous, the suite may share the machine

ADAPTER = '''\
import snakepit_bridge
from snakepit_bridge import BaseAdapter, tool


class Where(BaseAdapter):
    @tool
    def bridge_file(self) -> str:
        return snakepit_bridge.__file__
'''

# Lines that end in `# error` are the only ones a type checker may reject: the decorated
# tools keep their own signatures, with or without options, on methods and plain functions.
TYPED_USE = '''\
from typing import Callable, Iterator

from snakepit_bridge import BaseAdapter, ThreadSafeAdapter, thread_safe_method, tool


class Calc(BaseAdapter):
    @tool
    def add(self, a: int, b: int) -> int:
        return a + b

    @tool(description="Count up", name="count_up")
    def count(self, n: int) -> Iterator[int]:
        yield from range(n)


class Model(ThreadSafeAdapter):
    @tool
    @thread_safe_method
    def predict(self, x: float) -> float:
        return x * 2


@tool(description="A plain function")
def double(x: int) -> int:
    return 2 * x


total: int = Calc().add(1, 2)
steps: Iterator[int] = Calc().count(3)
y: float = Model().predict(1.5)
as_callable: Callable[[int], int] = double
Calc().add("1", 2)  # error
text: str = Calc().add(1, 2)  # error
Calc().count()  # error
Model().predict(x="a")  # error
bad_callable: Callable[[str], int] = double  # error
'''


def run(argv: list, cwd: Path, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**clean, **(env or {})})


@pytest.fixture(scope="module")
def user_env(tmp_path_factory) -> Path:
    """A fresh virtualenv with the bridge (and mypy, the user's type checker) installed by pip."""
    root = tmp_path_factory.mktemp("user")
    # The bridge's source as a user's `pip install <repo>/python` sees it; a copy, because pip
    # builds in the source folder and this run must not leave build output in the checkout.
    source = root / "snakepit-python"
    shutil.copytree(PYTHON_DIR, source, ignore=shutil.ignore_patterns("tests", "build", "*.egg-info", "__pycache__", "_proto"))
    env = root / "env"
    made = run([sys.executable, "-m", "venv", env], root)
    assert made.returncode == 0, made.stderr
    python = env / "bin" / "python"
    installed = run([python, "-m", "pip", "install", "--retries", "0", "-q", source, "mypy"], root,
                    timeout=PIP_TIMEOUT, env={"PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert installed.returncode == 0, installed.stderr
    return python


def test_the_installed_bridge_runs_from_the_users_interpreter(user_env, tmp_path):
    help_text = run([user_env, "-m", "snakepit_bridge", "--help"], tmp_path)
    assert help_text.returncode == 0, help_text.stderr
    assert "usage: python -m snakepit_bridge" in help_text.stdout and "--adapter" in help_text.stdout
    script = run([user_env.parent / "snakepit-worker", "--help"], tmp_path)
    assert script.returncode == 0 and "--adapter" in script.stdout, script.stderr
    imported = run([user_env, "-c", "import snakepit_bridge.worker, snakepit_bridge.session as s; print(s.__file__)"], tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert user_env.parent.parent / "lib" in Path(imported.stdout.strip()).parents


def test_the_installed_bridge_serves_a_users_adapter(user_env, tmp_path, spawn):
    (tmp_path / "where.py").write_text(ADAPTER)
    # The default transport: the bridge installed without its grpc extra serves it.
    w = spawn("where.Where", "--transport", "local", python=str(user_env), pythonpath=[str(tmp_path)])
    served_by = Path(w.session().call("bridge_file"))
    assert user_env.parent.parent / "lib" in served_by.parents, served_by


def test_tool_keeps_the_decorated_functions_type(user_env, tmp_path):
    (tmp_path / "typed_use.py").write_text(TYPED_USE)
    checked = run([user_env, "-m", "mypy", "--strict", "--no-incremental", "--no-error-summary",
                   "--hide-error-context", "--show-error-codes", "typed_use.py"], tmp_path, timeout=300)
    rejected = sorted({int(m.group(1)) for m in re.finditer(r"^typed_use\.py:(\d+): error:", checked.stdout, re.M)})
    expected = [n for n, line in enumerate(TYPED_USE.splitlines(), 1) if line.endswith("# error")]
    assert rejected == expected, textwrap.indent(checked.stdout + checked.stderr, "  ")
