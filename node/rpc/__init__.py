"""The node's JSON-RPC 2.0 API over HTTP: `RpcServer`, its error codes and its OpenRPC document."""

from __future__ import annotations

from node.rpc.errors import ErrorCode, RpcError
from node.rpc.openrpc import METHODS, build_openrpc
from node.rpc.server import (
    DEFAULT_HOST,
    MAX_BATCH,
    MAX_JSON_DEPTH,
    MAX_REQUEST_BYTES,
    RpcConfigError,
    RpcServer,
)

__all__ = [
    "DEFAULT_HOST",
    "MAX_BATCH",
    "MAX_JSON_DEPTH",
    "MAX_REQUEST_BYTES",
    "METHODS",
    "ErrorCode",
    "RpcConfigError",
    "RpcError",
    "RpcServer",
    "build_openrpc",
]
