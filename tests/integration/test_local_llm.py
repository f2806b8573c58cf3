"""The real local backend: SmolLM2-135M served by xllamacpp on 127.0.0.1, judged through LlmClient.

SmolLM2 judges near chance, so these tests check the path (logprobs arrive, verdicts are read,
tokens are counted, the server stops), not the verdicts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from auditors.llm import LlmClient, LlmEvaluator, ScoringMode
from auditors.llm.errors import LocalLlmError
from auditors.llm.prompts import SEGMENT_PROMPT, load_prompt
from auditors.llm.wire import ChatRequest
from node.llm.local import LocalLlmServer
from protocol.models import Vote
from tests.llm_answers import make_segment

SEGMENTS = (
    make_segment("Tom starts with 3 apples and buys 4 more, so he has 3 + 4 = 7 apples."),
    make_segment("He gives away 2, so he has 7 - 2 = 9 apples.", ("Tom has 7 apples.",), 1),
)


@pytest.fixture
async def server() -> AsyncIterator[LocalLlmServer]:
    local = LocalLlmServer()
    async with local:
        yield local


async def test_judges_segments_from_logprobs(server: LocalLlmServer) -> None:
    async with LlmClient(server.settings()) as client:
        evaluator = LlmEvaluator(client, mode=ScoringMode.LOGPROBS)
        for segment in SEGMENTS:
            judgement = await evaluator.judge(segment)
            assert judgement.vote in set(Vote)
            assert 0.0 <= judgement.confidence <= 1.0
            assert judgement.rationale.startswith(f"llm {SEGMENT_PROMPT}: ")
            assert "no logprobs" not in judgement.rationale
            assert judgement.usage is not None
            assert judgement.usage.prompt_tokens > 0
            assert judgement.usage.completion_tokens > 0
        assert client.totals.requests == len(SEGMENTS)


async def test_the_server_returns_top_logprobs(server: LocalLlmServer) -> None:
    request = ChatRequest(
        load_prompt(SEGMENT_PROMPT).render(SEGMENTS[0]), max_tokens=2, logprobs=True, top_logprobs=5
    )
    async with LlmClient(server.settings()) as client:
        answer = await client.complete(request)
    assert answer.logprobs is not None
    assert len(answer.logprobs[0].top) == 5


async def test_constrained_json_verdicts(server: LocalLlmServer) -> None:
    async with LlmClient(server.settings()) as client:
        evaluator = LlmEvaluator(client, mode=ScoringMode.JSON, constrain_json=True)
        judgement = await evaluator.judge(SEGMENTS[1])
    assert "by json" in judgement.rationale
    assert judgement.usage is not None and judgement.usage.completion_tokens > 0


async def test_stop_ends_the_server_process() -> None:
    local = LocalLlmServer()
    async with local:
        pid = local.pid
        assert pid is not None
        assert (local.read_rss_bytes() or 0) > 0
    assert local.pid is None
    assert not Path(f"/proc/{pid}").exists()


async def test_a_model_that_does_not_load_is_reported(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf file")
    log = tmp_path / "llama.log"
    with pytest.raises(LocalLlmError, match="exited before listening"):
        async with LocalLlmServer(bogus, log_path=log):
            pass
    assert log.stat().st_size > 0
