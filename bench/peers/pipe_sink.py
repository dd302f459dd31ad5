"""The plain-pipe floor for large payloads in `npm run bench`: no bridge, no framing beyond a
header. Requests on stdin are a 9-byte header, op (b"W" or b"R") + size (8 bytes, big-endian):

  W  Node then writes `size` bytes; Python reads them all into one bytes object and answers
     with the 8-byte count it received.
  R  Python writes `size` bytes (built once per size) to stdout.

Exits when stdin closes.
"""

import sys


def main():
    stdin = sys.stdin.buffer
    stdout = sys.stdout.buffer
    blob = b""
    while True:
        header = stdin.read(9)
        if len(header) < 9:
            return 0
        op, size = header[:1], int.from_bytes(header[1:], "big")
        if op == b"W":
            data = stdin.read(size)
            stdout.write(len(data).to_bytes(8, "big"))
        else:
            if len(blob) != size:
                blob = bytes(size)
            stdout.write(blob)
        stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
