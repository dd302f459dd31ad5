"""Two of these make the plain baseline of the CPU section in `npm run bench`: a JSON-lines
worker over stdio with no bridge at all, running the same tools as the benchmark's adapter.
A request is {"tool": "matmul" | "spin", "args": {...}}; the reply is {"result": ...}.
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "adapters"))

from bench_adapters import DEFAULT_N, _matmul, _spin  # noqa: E402

TOOLS = {"matmul": lambda n=DEFAULT_N: _matmul(n), "spin": lambda iterations: _spin(iterations)}


def main():
    read = sys.stdin.buffer.readline
    out = sys.stdout.buffer
    while True:
        line = read()
        if not line:
            return 0
        req = json.loads(line)
        result = TOOLS[req["tool"]](**req["args"])
        out.write(json.dumps({"result": result}).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    sys.exit(main())
