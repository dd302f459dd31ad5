"""The worker's options: the plain reading every start takes agrees with argparse, which reads
only what it cannot (help, mistakes)."""
from __future__ import annotations

import pytest

from snakepit_bridge import worker

BASE = ["--adapter", "m.C", "--address", "unix:/tmp/x.sock"]


@pytest.mark.parametrize("extra", [
    [],
    ["--transport", "local", "--profile", "thread", "--threads", "8", "--thread-safety-checks"],
    ["--idle-poll-us", "100", "--started-file", "/tmp/s", "--worker-id", "p-1", "--run-id", "r1", "--max-message-bytes", "1024"],
])
def test_the_plain_reading_agrees_with_argparse(extra):
    argv = BASE + extra
    plain = worker._read_plainly(argv)
    assert plain is not None
    assert vars(plain) == vars(worker._read_with_argparse(argv))


@pytest.mark.parametrize("argv, says", [
    (["--adapter", "m.C"], "the following arguments are required: --address"),
    (BASE + ["--transport", "udp"], "invalid choice: 'udp'"),
    (BASE + ["--threads", "many"], "invalid int value: 'many'"),
    (BASE + ["--bogus"], "unrecognized arguments: --bogus"),
    (BASE + ["--threads"], "expected one argument"),
    (BASE + ["--worker-id", "--run-id"], "expected one argument"),
    (BASE + ["--threads", "0"], "--threads must be at least 1"),
])
def test_a_mistake_is_reported_as_argparse_says_it(argv, says):
    assert worker._read_plainly(argv) is None or argv[-2:] == ["--threads", "0"]  # that one reads, then fails
    with pytest.raises(worker.StartupError) as e:
        worker.parse_args(argv)
    assert says in str(e.value)
