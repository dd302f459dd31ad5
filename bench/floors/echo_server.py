"""Floor server for the benchmarks: a bare grpcio sync server, no Snakepit code.

Offers two methods on service `floor.Echo`, both with raw-bytes (identity) serializers so
no code generation is needed:

  /floor.Echo/Unary   unary echo: returns the request bytes
  /floor.Echo/Stream  bidi echo: answers every incoming message with the same bytes

Listens on a Unix socket inside a private temporary directory (mode 0700) and prints one
line `READY <address>` on stdout once serving. Exits on SIGTERM/SIGINT or when stdin closes
(so it never outlives the Node process that started it).
"""

import os
import signal
import sys
import tempfile
import threading
from concurrent import futures

import grpc


def _unary(request, context):
    return request


def _stream(request_iterator, context):
    for message in request_iterator:
        yield message


def main() -> int:
    workers = int(os.environ.get("FLOOR_THREADS", "4"))
    private_dir = tempfile.mkdtemp(prefix="snakepit-floor-")
    os.chmod(private_dir, 0o700)
    sock_path = os.path.join(private_dir, "echo.sock")
    address = "unix:" + sock_path

    identity = lambda b: b  # noqa: E731 - raw bytes in, raw bytes out
    handler = grpc.method_handlers_generic_handler(
        "floor.Echo",
        {
            "Unary": grpc.unary_unary_rpc_method_handler(
                _unary, request_deserializer=identity, response_serializer=identity
            ),
            "Stream": grpc.stream_stream_rpc_method_handler(
                _stream, request_deserializer=identity, response_serializer=identity
            ),
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(address)
    server.start()

    done = threading.Event()

    def _stop(*_args):
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)

    def _watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except Exception:
            pass
        done.set()

    threading.Thread(target=_watch_stdin, daemon=True).start()

    sys.stdout.write("READY " + address + "\n")
    sys.stdout.flush()

    done.wait()
    server.stop(grace=0.2).wait()
    try:
        os.unlink(sock_path)
    except OSError:
        pass
    try:
        os.rmdir(private_dir)
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
