"""Adversarial judging policies, for experiments and for testing the protocol's defences.

Each takes the same `Segment` an honest auditor gets (most wrap the honest judge itself), and
each is pure: randomness and observations are injected. `make_adversary` builds one from a
node's configured behaviour name around a synchronous honest judge, `make_async_adversary`
around an asynchronous one (the node's tiered judge); `BEHAVIOURS` lists the names.
"""

from __future__ import annotations

from auditors.adversaries.asynchronous import make_async_adversary
from auditors.adversaries.basic import (
    RANDOM_CONFIDENCE,
    AbstainJudge,
    AlwaysValidJudge,
    FlipJudge,
    RandomJudge,
    compute_flip,
)
from auditors.adversaries.collude import (
    ATTACK_CONFIDENCE,
    Bloc,
    ColludeJudge,
    compute_attack_vote,
    compute_bloc_draw,
)
from auditors.adversaries.copycat import (
    COPIED,
    NOTHING_TO_COPY,
    CopycatJudge,
    Observe,
    compute_majority,
    is_copied,
)
from auditors.adversaries.errors import AdversaryConfigError
from auditors.adversaries.factory import (
    BEHAVIOURS,
    COPYCAT_FALLBACKS,
    DEFAULT_BLOC_FRACTION,
    DEFAULT_COPYCAT_FALLBACK,
    AdversaryParams,
    Behaviour,
    CopycatFallback,
    compute_adversary,
    is_reading_honest,
    make_adversary,
)

__all__ = [
    "ATTACK_CONFIDENCE",
    "BEHAVIOURS",
    "COPIED",
    "COPYCAT_FALLBACKS",
    "DEFAULT_BLOC_FRACTION",
    "DEFAULT_COPYCAT_FALLBACK",
    "NOTHING_TO_COPY",
    "RANDOM_CONFIDENCE",
    "AbstainJudge",
    "AdversaryConfigError",
    "AdversaryParams",
    "AlwaysValidJudge",
    "Behaviour",
    "Bloc",
    "ColludeJudge",
    "CopycatFallback",
    "CopycatJudge",
    "FlipJudge",
    "Observe",
    "RandomJudge",
    "compute_adversary",
    "compute_attack_vote",
    "compute_bloc_draw",
    "compute_flip",
    "compute_majority",
    "is_copied",
    "is_reading_honest",
    "make_adversary",
    "make_async_adversary",
]
