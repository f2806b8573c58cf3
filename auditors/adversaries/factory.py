"""Building a node's judging policy from its configured behaviour name."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

from auditors.adversaries.basic import AbstainJudge, AlwaysValidJudge, FlipJudge, RandomJudge
from auditors.adversaries.collude import Bloc, ColludeJudge
from auditors.adversaries.copycat import CopycatJudge, Observe
from auditors.adversaries.errors import AdversaryConfigError
from auditors.judgement import Judge

Behaviour = Literal[
    "honest", "flip", "random", "always-valid", "abstain", "copycat", "collude", "absent"
]
BEHAVIOURS: tuple[Behaviour, ...] = (
    "honest",
    "flip",
    "random",
    "always-valid",
    "abstain",
    "copycat",
    "collude",
    "absent",
)
"""Every behaviour `make_adversary` accepts; `abstain` votes ABSTAIN on everything (a free rider:
it reveals, so it is never absent, and judges nothing); `absent` never votes (the node sends
nothing)."""

CopycatFallback = Literal["abstain", "random", "honest"]
COPYCAT_FALLBACKS: tuple[CopycatFallback, ...] = ("abstain", "random", "honest")
DEFAULT_COPYCAT_FALLBACK: CopycatFallback = "abstain"
DEFAULT_BLOC_FRACTION = 0.5


@dataclass(frozen=True)
class AdversaryParams:
    """The parameters behaviours read beyond the honest judge; each reads only its own."""

    rng: random.Random | None = None
    observe: Observe | None = None
    bloc_secret: bytes | None = field(default=None, repr=False)
    bloc_fraction: float = DEFAULT_BLOC_FRACTION
    copycat_fallback: str = DEFAULT_COPYCAT_FALLBACK


def make_adversary(
    behaviour: str,
    honest: Judge,
    *,
    rng: random.Random | None = None,
    observe: Observe | None = None,
    bloc_secret: bytes | None = None,
    bloc_fraction: float = DEFAULT_BLOC_FRACTION,
    copycat_fallback: str = DEFAULT_COPYCAT_FALLBACK,
) -> Judge | None:
    """The judge for `behaviour` around `honest`, or None for `absent`.

    Only the parameters the behaviour uses are read: `rng` for random (and copycat falling back
    to random), `observe` for copycat, `bloc_secret` and `bloc_fraction` for collude. An unknown
    behaviour or a missing or bad parameter raises AdversaryConfigError.
    """
    if behaviour == "absent":
        return None
    params = AdversaryParams(rng, observe, bloc_secret, bloc_fraction, copycat_fallback)
    return compute_adversary(behaviour, honest, params)


def is_reading_honest(behaviour: str, copycat_fallback: str = DEFAULT_COPYCAT_FALLBACK) -> bool:
    """Whether the behaviour's vote depends on the honest judgement (so it must be computed).

    Never raises: unknown names are simply not reading.
    """
    if behaviour == "copycat":
        return copycat_fallback == "honest"
    return behaviour in ("honest", "flip", "collude")


def compute_adversary(behaviour: str, honest: Judge, params: AdversaryParams) -> Judge:
    """The judge of a voting behaviour (every one but `absent`, which raises like unknown ones)."""
    if behaviour == "honest":
        return honest
    if behaviour == "flip":
        return FlipJudge(honest)
    if behaviour == "random":
        return RandomJudge(_require_rng(params.rng, behaviour))
    if behaviour == "always-valid":
        return AlwaysValidJudge()
    if behaviour == "abstain":
        return AbstainJudge()
    if behaviour == "copycat":
        if params.observe is None:
            raise AdversaryConfigError("behaviour 'copycat' needs an observe function")
        fallback = _make_fallback(params.copycat_fallback, honest, params.rng)
        return CopycatJudge(params.observe, fallback)
    if behaviour == "collude":
        if params.bloc_secret is None:
            raise AdversaryConfigError("behaviour 'collude' needs a bloc secret")
        return ColludeJudge(honest, Bloc(params.bloc_secret, params.bloc_fraction))
    raise AdversaryConfigError(
        f"unknown judging behaviour {behaviour!r}; expected one of {', '.join(BEHAVIOURS)}"
    )


def _make_fallback(name: str, honest: Judge, rng: random.Random | None) -> Judge:
    if name == "abstain":
        return AbstainJudge()
    if name == "random":
        return RandomJudge(_require_rng(rng, "copycat falling back to random"))
    if name == "honest":
        return honest
    raise AdversaryConfigError(
        f"unknown copycat fallback {name!r}; expected one of {', '.join(COPYCAT_FALLBACKS)}"
    )


def _require_rng(rng: random.Random | None, who: str) -> random.Random:
    # No default generator: an unseeded one would make experiments unreproducible.
    if rng is None:
        raise AdversaryConfigError(f"{who} needs a seeded random.Random (rng=...)")
    return rng
