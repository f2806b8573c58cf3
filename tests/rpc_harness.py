"""An RPC server under test and an HTTP client pointed at it: JSON-RPC calls with the checks
every answer must pass (the RPC tests of traces, status and reviews share it)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from node.rpc import RpcServer


class Node:
    """A started server and an HTTP client pointed at it."""

    def __init__(self, server: RpcServer, url: str, client: httpx.AsyncClient) -> None:
        self.server = server
        self.url = url
        self.client = client

    async def post(self, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        return await self.client.post(self.url, content=content, headers=all_headers)

    async def call(
        self, method: str, params: Any = None, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        request: dict[str, Any] = {"jsonrpc": "2.0", "id": 7, "method": method}
        if params is not None:
            request["params"] = params
        response = await self.post(request, headers)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        assert answer["id"] == 7
        return answer

    async def result(self, method: str, params: Any = None, **kw: Any) -> Any:
        answer = await self.call(method, params, **kw)
        assert "error" not in answer, answer
        return answer["result"]

    async def error(self, method: str, params: Any = None, **kw: Any) -> dict[str, Any]:
        answer = await self.call(method, params, **kw)
        assert "result" not in answer, answer
        error: dict[str, Any] = answer["error"]
        assert set(error) == {"code", "message"}
        assert "Traceback" not in error["message"]
        return error
