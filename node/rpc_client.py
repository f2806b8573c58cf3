"""A small JSON-RPC 2.0 client for a node's RPC server (httpx, synchronous).

Three failures, one exception tree: `RpcCallError` (the node answered with a JSON-RPC error
object; `code` is stable), `RpcUnreachableError` (no answer: refused, timed out) and
`RpcProtocolError` (an answer that is not JSON-RPC). Pass `transport=httpx.MockTransport(...)`
in tests instead of patching.
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "RpcCallError",
    "RpcClient",
    "RpcClientError",
    "RpcProtocolError",
    "RpcUnreachableError",
]

DEFAULT_TIMEOUT_S = 10.0


class RpcClientError(Exception):
    """Any failure of a call; the message is one line."""


class RpcCallError(RpcClientError):
    """The node answered with a JSON-RPC error object."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"RPC error {code}: {message}")
        self.code = code
        self.message = message


class RpcUnreachableError(RpcClientError):
    """No answer from the node: connection refused, timeout, network error."""


class RpcProtocolError(RpcClientError):
    """The answer was not a JSON-RPC 2.0 response."""


class RpcClient:
    """Calls one node's RPC URL; a context manager that closes its connection pool."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        self.url = url
        self._http = httpx.Client(headers=headers, timeout=timeout_s, transport=transport)
        self._ids = itertools.count(1)

    def __enter__(self) -> RpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, params: dict[str, Any] | list[Any] | None = None) -> Any:
        """The `result` of one call; raises an `RpcClientError` otherwise."""
        request_id = next(self._ids)
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            body["params"] = params
        try:
            response = self._http.post(self.url, json=body)
        except httpx.TransportError as exc:
            raise RpcUnreachableError(
                f"cannot reach the node's RPC at {self.url} ({type(exc).__name__})"
            ) from None
        return _result(response, request_id)


def _result(response: httpx.Response, request_id: int) -> Any:
    try:
        answer = response.json()
    except ValueError:
        raise RpcProtocolError(
            f"HTTP {response.status_code} from {response.url} is not a JSON-RPC answer"
        ) from None
    if not isinstance(answer, dict) or answer.get("jsonrpc") != "2.0":
        raise RpcProtocolError(f"HTTP {response.status_code}: not a JSON-RPC 2.0 answer")
    error = answer.get("error")
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
        raise RpcCallError(code if isinstance(code, int) else 0, str(message)[:300])
    if answer.get("id") != request_id or "result" not in answer:
        raise RpcProtocolError("the JSON-RPC answer does not match the request")
    return answer["result"]
