"""Loads the gRPC code generated from proto/snakepit.proto, with a clear hint when it is missing."""
try:
    from ._proto import snakepit_pb2 as pb
    from ._proto import snakepit_pb2_grpc as pb_grpc
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "snakepit_bridge._proto is missing or broken (the gRPC code generated from proto/snakepit.proto): "
        f"run `npm run setup:python` ({e})"
    ) from e

__all__ = ["pb", "pb_grpc"]
