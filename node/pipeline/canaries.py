"""Canary traces mixed into this node's submissions, and the canary record of every auditor.

For each user trace the node accepts, with probability `rate` it also submits a canary
(`protocol.canaries`): a synthetic arithmetic trace whose steps' correctness is known. On the
wire a canary is a trace like any other, audited and finalized through the normal pipeline, so
an auditor voting against a known answer is incoherent with an honest majority and slashed by
the normal rule. Once a canary is final, every reveal this node holds on it is scored against
the known answers and added to the auditors' records (`node_status` shows them). The canary and
its answers are stored in one transaction before it is submitted, and scoring is idempotent and
resumed on start, so a crash loses neither.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Callable

from node.store import Store
from protocol.canaries import compute_canary, compute_canary_scores

logger = logging.getLogger(__name__)

#: Rounds whose reveals a canary's score reads (round 0 and the escalation round).
_ROUNDS = (0, 1)


class CanaryService:
    """`on_trace_accepted` for user traces, `on_finalized` for every finalized trace."""

    def __init__(
        self,
        store: Store,
        submit: Callable[[str], None],
        rate: float,
        clock_ms: Callable[[], int],
        rng: random.Random | None = None,
    ) -> None:
        """`submit` hands a stored trace to the coordinator; `rng` decides when a canary is
        due (unpredictable by default: nobody should foresee which traces are canaries)."""
        self._store = store
        self._submit = submit
        self._rate = rate
        self._clock_ms = clock_ms
        self._rng = rng if rng is not None else random.SystemRandom()
        self._due = 0
        self._wake = asyncio.Event()

    @property
    def due(self) -> int:
        """Canaries decided on and not submitted yet."""
        return self._due

    def on_trace_accepted(self, trace_id: str) -> None:
        if self._rate > 0 and self._rng.random() < self._rate:
            self._due += 1
            self._wake.set()

    async def run(self) -> None:
        for trace_id in await asyncio.to_thread(self._store.unscored_canaries):
            await self.on_finalized(trace_id)
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._due:
                self._due -= 1
                await self._submit_canary()

    async def _submit_canary(self) -> None:
        canary = compute_canary(os.urandom(32))
        trace_id, created = await asyncio.to_thread(
            self._store.put_canary,
            canary.trace,
            canary.answers,
            canary.planted_step,
            at_ms=self._clock_ms(),
        )
        if created:
            self._submit(trace_id)
            logger.info("canary %s submitted", trace_id[:10])

    async def on_finalized(self, trace_id: str) -> None:
        """Score a finalized canary's reveals once; other traces are left alone."""
        canary = await asyncio.to_thread(self._store.get_canary, trace_id)
        if canary is None or canary.scored:
            return
        reveals = [
            reveal
            for round_ in _ROUNDS
            for reveal in await asyncio.to_thread(self._store.get_reveals, trace_id, round_)
        ]
        scores = compute_canary_scores(canary.answers, reveals)
        await asyncio.to_thread(self._store.record_canary_scores, trace_id, scores)
        failed = sorted(auditor for auditor, score in scores.items() if score.failed)
        if failed:
            logger.warning("canary %s failed by %s", trace_id[:10], ", ".join(failed))
