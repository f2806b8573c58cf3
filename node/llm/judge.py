"""The node's LLM evaluator, from its configuration: client, and the local backend when asked.

`open_llm_judge(settings)` is an async context manager yielding an `LlmEvaluator` (or None when
the node has no LLM tier); leaving it closes the HTTP client and stops a local server it started.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

from auditors.llm import LlmClient, LlmConfigError, LlmEvaluator, LlmSettings
from node.config import LlmJudgeSettings
from node.llm.local import LocalLlmServer

logger = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def open_llm_judge(
    settings: LlmJudgeSettings | None, log_dir: Path
) -> AsyncIterator[LlmEvaluator | None]:
    """The evaluator `settings` describe; LlmConfigError for a named API-key variable that is
    unset, LocalLlmError when the local backend cannot start."""
    if settings is None:
        yield None
        return
    async with contextlib.AsyncExitStack() as stack:
        if settings.endpoint == "local":
            server = LocalLlmServer(log_path=log_dir / "llm.log")
            base_url = await stack.enter_async_context(server)
        else:
            base_url = settings.endpoint
        client = LlmClient(
            LlmSettings(
                base_url=base_url,
                model=settings.model,
                api_key=_api_key(settings.api_key_env),
                max_concurrency=settings.max_concurrency,
                read_timeout_s=settings.read_timeout_s,
            )
        )
        await stack.enter_async_context(client)
        logger.info("LLM evaluator at %s (model %s)", base_url, settings.model)
        yield LlmEvaluator(client)


def _api_key(variable: str | None) -> str | None:
    if variable is None:
        return None
    key = os.environ.get(variable, "").strip()
    if not key:
        raise LlmConfigError(f"the LLM API key variable {variable} is not set")
    return key
