"""Adversarial judging policies: each behaviour's vote, reproducibility, copying, collusion."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

import auditors
from auditors import Judge, Judgement
from auditors.adversaries import (
    ATTACK_CONFIDENCE,
    BEHAVIOURS,
    COPIED,
    NOTHING_TO_COPY,
    RANDOM_CONFIDENCE,
    AdversaryConfigError,
    Bloc,
    ColludeJudge,
    CopycatJudge,
    FlipJudge,
    RandomJudge,
    compute_bloc_draw,
    compute_majority,
    is_copied,
    make_adversary,
    make_async_adversary,
)
from protocol.encoding import keccak, keccak_hex
from protocol.models import Level, Segment, Tier, Vote

TRACE = keccak_hex(b"a trace")
SECRET = b"bloc secret"
HONEST_CONFIDENCE = 0.9
#: Binomial counts must fall within this many standard deviations of the mean: with seeded
#: draws the tests are deterministic, and 5 sigma keeps them meaningful, not fragile.
SIGMAS = 5


def make_segment(index: int = 0, trace_id: str = TRACE) -> Segment:
    return Segment(
        trace_id=trace_id,
        index=index,
        node_id=keccak_hex(index.to_bytes(4, "big")),
        level=Level.STEP,
        tier=Tier.CHECKER,
        problem="p",
        text="2 + 2 = 4",
    )


@dataclass(frozen=True)
class FixedJudge:
    """An honest judge stub that always returns one vote."""

    vote: Vote

    def judge(self, segment: Segment) -> Judgement:
        return Judgement(self.vote, HONEST_CONFIDENCE, f"honest {self.vote.name}")


class CyclingJudge:
    """An honest judge stub whose vote depends on the segment index: VALID, INVALID, ABSTAIN."""

    def judge(self, segment: Segment) -> Judgement:
        vote = (Vote.VALID, Vote.INVALID, Vote.ABSTAIN)[segment.index % 3]
        return Judgement(vote, HONEST_CONFIDENCE, "honest")


def observing(*votes: Vote) -> auditors.adversaries.Observe:
    def observe(segment: Segment) -> Sequence[Vote]:
        return votes

    return observe


def assert_binomial(count: int, trials: int, p: float) -> None:
    mean, sd = trials * p, math.sqrt(trials * p * (1 - p))
    assert mean - SIGMAS * sd <= count <= mean + SIGMAS * sd, (count, trials, p)


def build(behaviour: str, honest: Judge, **kwargs: object) -> Judge:
    judge = make_adversary(behaviour, honest, **kwargs)  # type: ignore[arg-type]
    assert judge is not None
    return judge


# --- each behaviour's vote on each honest judgement ------------------------------------------

H_VALID, H_INVALID, H_ABSTAIN = Vote.VALID, Vote.INVALID, Vote.ABSTAIN


@pytest.mark.parametrize(
    ("behaviour", "kwargs", "expected"),
    [
        ("honest", {}, {H_VALID: Vote.VALID, H_INVALID: Vote.INVALID, H_ABSTAIN: Vote.ABSTAIN}),
        ("flip", {}, {H_VALID: Vote.INVALID, H_INVALID: Vote.VALID, H_ABSTAIN: Vote.ABSTAIN}),
        ("always-valid", {}, {H_VALID: Vote.VALID, H_INVALID: Vote.VALID, H_ABSTAIN: Vote.VALID}),
        ("abstain", {}, {H_VALID: Vote.ABSTAIN, H_INVALID: Vote.ABSTAIN, H_ABSTAIN: Vote.ABSTAIN}),
        (
            "copycat",
            {"observe": observing()},
            {H_VALID: Vote.ABSTAIN, H_INVALID: Vote.ABSTAIN, H_ABSTAIN: Vote.ABSTAIN},
        ),
        (
            "copycat",
            {"observe": observing(Vote.INVALID)},
            {H_VALID: Vote.INVALID, H_INVALID: Vote.INVALID, H_ABSTAIN: Vote.INVALID},
        ),
        (
            "collude",
            {"bloc_secret": SECRET, "bloc_fraction": 1.0},
            {H_VALID: Vote.INVALID, H_INVALID: Vote.VALID, H_ABSTAIN: Vote.INVALID},
        ),
        (
            "collude",
            {"bloc_secret": SECRET, "bloc_fraction": 0.0},
            {H_VALID: Vote.VALID, H_INVALID: Vote.INVALID, H_ABSTAIN: Vote.ABSTAIN},
        ),
    ],
)
def test_vote_on_each_honest_judgement(
    behaviour: str, kwargs: dict[str, object], expected: dict[Vote, Vote]
) -> None:
    for honest_vote, vote in expected.items():
        judge = build(behaviour, FixedJudge(honest_vote), **kwargs)
        assert judge.judge(make_segment()).vote == vote, (behaviour, honest_vote)


def test_flip_keeps_the_honest_confidence_and_reason() -> None:
    judgement = FlipJudge(FixedJudge(Vote.VALID)).judge(make_segment())
    assert judgement == Judgement(Vote.INVALID, HONEST_CONFIDENCE, "flipped: honest VALID")


def test_always_valid_is_fully_confident() -> None:
    judgement = build("always-valid", FixedJudge(Vote.INVALID)).judge(make_segment())
    assert (judgement.vote, judgement.confidence) == (Vote.VALID, 1.0)


# --- random ------------------------------------------------------------------------------------


def draw_votes(seed: int, honest_vote: Vote, n: int) -> list[Vote]:
    judge = build("random", FixedJudge(honest_vote), rng=random.Random(seed))
    return [judge.judge(make_segment(i)).vote for i in range(n)]


def test_random_is_reproducible_from_its_seed() -> None:
    assert draw_votes(7, Vote.VALID, 200) == draw_votes(7, Vote.VALID, 200)
    assert draw_votes(7, Vote.VALID, 200) != draw_votes(8, Vote.VALID, 200)


@pytest.mark.parametrize("honest_vote", list(Vote))
def test_random_is_balanced_never_abstains_and_ignores_the_honest_vote(honest_vote: Vote) -> None:
    votes = draw_votes(11, honest_vote, 1000)
    assert set(votes) == {Vote.VALID, Vote.INVALID}
    assert_binomial(votes.count(Vote.VALID), 1000, 0.5)


def test_random_confidence_is_a_half() -> None:
    judgement = RandomJudge(random.Random(1)).judge(make_segment())
    assert judgement.confidence == RANDOM_CONFIDENCE == 0.5


# --- copycat -----------------------------------------------------------------------------------


def test_copycat_copies_the_majority_of_observed_reveals() -> None:
    judge = CopycatJudge(observing(Vote.VALID, Vote.INVALID, Vote.INVALID), FixedJudge(Vote.VALID))
    judgement = judge.judge(make_segment())
    assert judgement.vote == Vote.INVALID
    assert judgement.rationale.startswith(COPIED + ":")
    assert is_copied(judgement)
    assert judgement.confidence == pytest.approx(2 / 3)


def test_copycat_passes_the_segment_to_observe() -> None:
    seen: list[Segment] = []

    def observe(segment: Segment) -> Sequence[Vote]:
        seen.append(segment)
        return (Vote.VALID,)

    segment = make_segment(5)
    build("copycat", FixedJudge(Vote.INVALID), observe=observe).judge(segment)
    assert seen == [segment]


def test_copycat_with_nothing_observed_falls_back_to_abstain_by_default() -> None:
    judgement = build("copycat", FixedJudge(Vote.VALID), observe=observing()).judge(make_segment())
    assert judgement.vote == Vote.ABSTAIN
    assert judgement.rationale.startswith(NOTHING_TO_COPY + ":")
    assert "no reveal observed" in judgement.rationale
    assert not is_copied(judgement)


@pytest.mark.parametrize(
    "observed",
    [(Vote.VALID, Vote.INVALID), (Vote.ABSTAIN, Vote.ABSTAIN)],
    ids=["tie", "only-abstentions"],
)
def test_copycat_without_a_majority_falls_back(observed: tuple[Vote, ...]) -> None:
    judgement = build("copycat", FixedJudge(Vote.VALID), observe=observing(*observed)).judge(
        make_segment()
    )
    assert judgement.vote == Vote.ABSTAIN
    assert judgement.rationale.startswith(f"{NOTHING_TO_COPY}: no majority")


def test_copycat_can_fall_back_to_random_or_honest() -> None:
    random_fallback = build(
        "copycat",
        FixedJudge(Vote.ABSTAIN),
        observe=observing(),
        copycat_fallback="random",
        rng=random.Random(3),
    )
    votes = {random_fallback.judge(make_segment(i)).vote for i in range(50)}
    assert votes == {Vote.VALID, Vote.INVALID}
    honest_fallback = build(
        "copycat", FixedJudge(Vote.INVALID), observe=observing(), copycat_fallback="honest"
    )
    judgement = honest_fallback.judge(make_segment())
    assert judgement.vote == Vote.INVALID
    assert judgement.rationale.endswith("fell back to honest INVALID")


def test_majority_ignores_abstentions() -> None:
    assert compute_majority([Vote.ABSTAIN, Vote.ABSTAIN, Vote.ABSTAIN, Vote.VALID]) == Vote.VALID
    assert compute_majority([]) is None


# --- collude -----------------------------------------------------------------------------------

N_SEGMENTS = 2000


def segments(n: int = N_SEGMENTS) -> list[Segment]:
    return [make_segment(i) for i in range(n)]


def test_bloc_members_vote_identically_on_every_segment() -> None:
    # Separate judge objects, as on two nodes: only the secret is shared.
    first = ColludeJudge(CyclingJudge(), Bloc(SECRET, 0.3))
    second = ColludeJudge(CyclingJudge(), Bloc(bytes(SECRET), 0.3))
    for segment in segments(600):
        assert first.judge(segment) == second.judge(segment)


def test_bloc_attacks_about_its_fraction_of_segments() -> None:
    bloc = Bloc(SECRET, 0.3)
    attacked = sum(bloc.is_attacked(segment) for segment in segments())
    assert_binomial(attacked, N_SEGMENTS, 0.3)
    judge = ColludeJudge(FixedJudge(Vote.VALID), bloc)
    lies = sum(judge.judge(segment).vote == Vote.INVALID for segment in segments())
    assert lies == attacked


def test_attack_decision_depends_on_the_trace_too() -> None:
    bloc = Bloc(SECRET, 0.5)
    other = keccak_hex(b"another trace")
    here = [bloc.is_attacked(make_segment(i)) for i in range(1000)]
    there = [bloc.is_attacked(make_segment(i, other)) for i in range(1000)]
    assert_binomial(sum(a != b for a, b in zip(here, there, strict=True)), 1000, 0.5)


def test_a_member_with_another_secret_does_not_coordinate() -> None:
    member = ColludeJudge(FixedJudge(Vote.VALID), Bloc(SECRET, 0.5))
    outsider = ColludeJudge(FixedJudge(Vote.VALID), Bloc(b"another secret", 0.5))
    differing = sum(
        member.judge(segment).vote != outsider.judge(segment).vote for segment in segments()
    )
    # Independent decisions at 0.5 each disagree half the time; coordination would give 0.
    assert_binomial(differing, N_SEGMENTS, 0.5)


def test_attacks_are_fully_confident_and_say_so() -> None:
    judgement = ColludeJudge(FixedJudge(Vote.ABSTAIN), Bloc(SECRET, 1.0)).judge(make_segment())
    assert judgement.confidence == ATTACK_CONFIDENCE
    assert judgement.rationale == "collude: bloc attacks, INVALID against honest ABSTAIN"


def test_bloc_draw_is_keccak_of_secret_trace_and_index() -> None:
    preimage = SECRET + bytes.fromhex(TRACE[2:]) + (42).to_bytes(32, "big")
    assert compute_bloc_draw(SECRET, TRACE, 42) == int.from_bytes(keccak(preimage), "big")


@pytest.mark.parametrize("fraction", [-0.1, 1.5, math.nan, math.inf])
def test_bloc_rejects_a_fraction_outside_unit_interval(fraction: float) -> None:
    with pytest.raises(AdversaryConfigError, match="fraction"):
        Bloc(SECRET, fraction)


def test_bloc_rejects_an_empty_secret_and_keeps_it_out_of_repr() -> None:
    with pytest.raises(AdversaryConfigError, match="secret"):
        Bloc(b"", 0.5)
    assert "bloc secret" not in repr(Bloc(SECRET, 0.5))


# --- factory -----------------------------------------------------------------------------------


def test_every_listed_behaviour_is_built() -> None:
    honest = FixedJudge(Vote.VALID)
    for behaviour in BEHAVIOURS:
        judge = make_adversary(
            behaviour, honest, rng=random.Random(0), observe=observing(), bloc_secret=SECRET
        )
        if behaviour == "absent":
            assert judge is None
        else:
            assert judge is not None
            assert judge.judge(make_segment()).vote in Vote
    assert make_adversary("honest", honest) is honest


def test_unknown_behaviour_raises_a_clear_error() -> None:
    with pytest.raises(AdversaryConfigError, match=r"unknown judging behaviour 'lazy'.*copycat"):
        make_adversary("lazy", FixedJudge(Vote.VALID))


@pytest.mark.parametrize(
    ("behaviour", "kwargs", "message"),
    [
        ("random", {}, "rng"),
        ("copycat", {}, "observe"),
        ("copycat", {"observe": observing(), "copycat_fallback": "random"}, "rng"),
        ("copycat", {"observe": observing(), "copycat_fallback": "guess"}, "fallback 'guess'"),
        ("collude", {}, "secret"),
        ("collude", {"bloc_secret": SECRET, "bloc_fraction": 2.0}, "fraction"),
    ],
)
def test_missing_or_bad_parameters_raise(
    behaviour: str, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(AdversaryConfigError, match=message):
        make_adversary(behaviour, FixedJudge(Vote.VALID), **kwargs)  # type: ignore[arg-type]


# --- around an asynchronous honest judge --------------------------------------------------------


@dataclass
class AsyncFixedJudge:
    """An asynchronous honest judge stub that counts how often it is awaited."""

    vote: Vote
    calls: int = 0

    async def judge(self, segment: Segment) -> Judgement:
        self.calls += 1
        return Judgement(self.vote, HONEST_CONFIDENCE, f"honest {self.vote.name}")


#: (behaviour, parameters, whether it must await the honest judge)
ASYNC_CASES: list[tuple[str, dict[str, object], bool]] = [
    ("flip", {}, True),
    ("always-valid", {}, False),
    ("copycat", {"observe": observing()}, False),
    ("copycat", {"observe": observing(Vote.VALID)}, False),
    ("copycat", {"observe": observing(), "copycat_fallback": "honest"}, True),
    ("collude", {"bloc_secret": SECRET, "bloc_fraction": 0.5}, True),
]


@pytest.mark.parametrize(("behaviour", "kwargs", "reads_honest"), ASYNC_CASES)
@pytest.mark.parametrize("honest_vote", list(Vote))
async def test_async_adversary_votes_as_the_sync_one(
    behaviour: str, kwargs: dict[str, object], reads_honest: bool, honest_vote: Vote
) -> None:
    sync = build(behaviour, FixedJudge(honest_vote), **kwargs)
    honest = AsyncFixedJudge(honest_vote)
    judge = make_async_adversary(behaviour, honest, **kwargs)  # type: ignore[arg-type]
    assert judge is not None
    for segment in segments(30):
        assert await judge.judge(segment) == sync.judge(segment)
    # A lazy auditor must not pay for an honest judgement it ignores.
    assert honest.calls == (30 if reads_honest else 0)


async def test_async_random_never_awaits_the_honest_judge() -> None:
    honest = AsyncFixedJudge(Vote.VALID)
    judge = make_async_adversary("random", honest, rng=random.Random(5))
    assert judge is not None
    votes = [(await judge.judge(segment)).vote for segment in segments(40)]
    assert votes == draw_votes(5, Vote.VALID, 40)
    assert honest.calls == 0


def test_async_factory_passes_honest_and_absent_through_and_validates_early() -> None:
    honest = AsyncFixedJudge(Vote.VALID)
    assert make_async_adversary("honest", honest) is honest
    assert make_async_adversary("absent", honest) is None
    with pytest.raises(AdversaryConfigError, match="fraction"):
        make_async_adversary("collude", honest, bloc_secret=SECRET, bloc_fraction=-1.0)
    with pytest.raises(AdversaryConfigError, match="unknown judging behaviour"):
        make_async_adversary("lazy", honest)


def test_public_exports() -> None:
    assert auditors.FlipJudge is FlipJudge
    assert auditors.make_adversary is make_adversary
    assert auditors.make_async_adversary is make_async_adversary
    assert auditors.BEHAVIOURS == BEHAVIOURS
    assert issubclass(AdversaryConfigError, ValueError)
