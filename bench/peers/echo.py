"""The Python side of the peer bridges in `npm run bench`.

As a script it is a JSON-lines echo over stdio (one request per line, the same line back):
the Python side of python-shell and of the hand-written JSON-lines baseline. With `--batched`
it answers every line one read brought in a single write: the bare floor's Python side. As a
module (pythonia, node-calls-python) it offers `echo(value)`.
"""

import os
import sys


def echo(value):
    return value


def main():
    # Reading with readline on the binary buffer and flushing each reply is what a
    # hand-written JSON-lines worker does: no batching the peers would not do either.
    read = sys.stdin.buffer.readline
    out = sys.stdout.buffer
    import json

    while True:
        line = read()
        if not line:
            return 0
        out.write(json.dumps(json.loads(line)).encode() + b"\n")
        out.flush()


def main_batched():
    # No bridge could answer cheaper: one read takes every waiting line, one write answers them all.
    import json

    pending = b""
    while True:
        data = os.read(0, 65536)
        if not data:
            return 0
        *lines, pending = (pending + data).split(b"\n")
        os.write(1, b"".join(json.dumps(json.loads(line)).encode() + b"\n" for line in lines))


if __name__ == "__main__":
    sys.exit(main_batched() if "--batched" in sys.argv else main())
