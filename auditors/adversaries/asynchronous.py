"""The same adversaries around an asynchronous honest judge, such as the node's tiered judge.

The adversaries themselves stay synchronous and pure: the honest judgement is awaited first,
only for behaviours that read it, then handed to the synchronous adversary.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from auditors.adversaries.copycat import Observe
from auditors.adversaries.errors import AdversaryConfigError
from auditors.adversaries.factory import (
    DEFAULT_BLOC_FRACTION,
    DEFAULT_COPYCAT_FALLBACK,
    AdversaryParams,
    compute_adversary,
    is_reading_honest,
)
from auditors.judgement import AsyncJudge, Judge, Judgement
from protocol.models import Segment


@dataclass(frozen=True)
class _Known:
    """An honest judge whose judgement was already awaited."""

    judgement: Judgement

    def judge(self, segment: Segment) -> Judgement:
        return self.judgement


@dataclass(frozen=True)
class _Unread:
    """Stands in for the honest judge of a behaviour that never reads it."""

    def judge(self, segment: Segment) -> Judgement:
        # Reaching this means is_reading_honest misclassifies a behaviour: fail loudly.
        raise AdversaryConfigError("this behaviour read an honest judgement it said it never reads")


@dataclass(frozen=True)
class _Sync:
    """A synchronous adversary that never reads the honest judge, behind the async interface."""

    adversary: Judge

    async def judge(self, segment: Segment) -> Judgement:
        return self.adversary.judge(segment)


@dataclass(frozen=True)
class _AwaitingHonest:
    """Awaits the honest judgement, then lets the synchronous adversary decide on it.

    The adversary is rebuilt around each judgement, so concurrent segments never share one.
    """

    behaviour: str
    honest: AsyncJudge
    params: AdversaryParams

    async def judge(self, segment: Segment) -> Judgement:
        judgement = await self.honest.judge(segment)
        return compute_adversary(self.behaviour, _Known(judgement), self.params).judge(segment)


def make_async_adversary(
    behaviour: str,
    honest: AsyncJudge,
    *,
    rng: random.Random | None = None,
    observe: Observe | None = None,
    bloc_secret: bytes | None = None,
    bloc_fraction: float = DEFAULT_BLOC_FRACTION,
    copycat_fallback: str = DEFAULT_COPYCAT_FALLBACK,
) -> AsyncJudge | None:
    """`make_adversary` for an asynchronous honest judge: same behaviours, same parameters.

    Configuration errors raise AdversaryConfigError here, not at the first segment. Behaviours
    that ignore the honest judgement (random, always-valid, copycat unless it falls back to
    honest) never await it, so a lazy auditor spends no LLM tokens.
    """
    if behaviour == "absent":
        return None
    if behaviour == "honest":
        return honest
    params = AdversaryParams(rng, observe, bloc_secret, bloc_fraction, copycat_fallback)
    adversary = compute_adversary(behaviour, _Unread(), params)  # validates the parameters now
    if is_reading_honest(behaviour, copycat_fallback):
        return _AwaitingHonest(behaviour, honest, params)
    return _Sync(adversary)
