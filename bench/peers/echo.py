"""The Python side of the peer bridges in `npm run bench`.

As a script it is a JSON-lines echo over stdio (one request per line, the same line back):
the Python side of python-shell and of the hand-written JSON-lines baseline. As a module
(pythonia, node-calls-python) it offers `echo(value)`.
"""

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


if __name__ == "__main__":
    sys.exit(main())
