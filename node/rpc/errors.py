"""JSON-RPC error codes of the node and the one exception that carries them.

Codes are stable: clients match on them, never on messages.

| code   | name             | when                                                              |
|--------|------------------|-------------------------------------------------------------------|
| -32700 | PARSE_ERROR      | body is not UTF-8 JSON (NaN/Infinity included)                    |
| -32600 | INVALID_REQUEST  | not a request object, bad `jsonrpc`/`id`/`params`, unknown member, |
|        |                  | empty or oversized batch, JSON nested deeper than MAX_JSON_DEPTH   |
| -32601 | METHOD_NOT_FOUND | no such method                                                    |
| -32602 | INVALID_PARAMS   | a parameter is missing, unknown or of the wrong type; names it    |
| -32603 | INTERNAL_ERROR   | a bug: logged on the node, generic message to the caller          |
| -32001 | TRACE_NOT_FOUND  | no trace with this id is stored on this node                      |
| -32002 | CHAIN_UNAVAILABLE| no chain reader configured, or the chain did not answer           |
| -32003 | UNAUTHORIZED     | a write or private method without the right `Authorization:`      |
|        |                  | `Bearer` token (when the node has one)                            |
| -32004 | REQUEST_TOO_LARGE| body over MAX_REQUEST_BYTES (sent with HTTP 413), or a trace over |
|        |                  | the store's limit                                                 |
| -32010 | NO_REVIEW_QUEUE  | review_* on a node that runs no human review queue                |
| -32011 | REVIEW_NOT_FOUND | no review with this id is stored on this node                     |
| -32012 | REVIEW_ANSWERED  | the review already has an answer; the first one stands            |
| -32013 | REVIEW_EXPIRED   | the review's deadline passed: it abstained, a late answer is not  |
|        |                  | counted                                                           |
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

__all__ = ["ErrorCode", "RpcError"]


class ErrorCode(IntEnum):
    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    TRACE_NOT_FOUND = -32001
    CHAIN_UNAVAILABLE = -32002
    UNAUTHORIZED = -32003
    REQUEST_TOO_LARGE = -32004
    # Human review (tier 3), a block of their own so other features can take -32005 onwards.
    NO_REVIEW_QUEUE = -32010
    REVIEW_NOT_FOUND = -32011
    REVIEW_ANSWERED = -32012
    REVIEW_EXPIRED = -32013


class RpcError(Exception):
    """An error answered to the caller as a JSON-RPC error object; the message is one line."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def to_json(self) -> dict[str, Any]:
        return {"code": int(self.code), "message": self.message}
