"""Differential tests: the Ledger contract on a real Anvil agrees with `protocol/`.

Every audit is submitted and finalized on-chain by `devnet.direct_audit`; the protocol computes
the same audit beside it. Verdicts, first errors, per-segment verdicts, rewards and slashes must
be identical, for planted examples and for hypothesis-generated auditor behaviours.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devnet.accounts import dev_private_key
from devnet.direct_audit import DirectAudit, VoteRule, run_direct_audit
from node.chain import ChainClient, Sender
from node.chain.ledger import LedgerClient
from protocol.eip712 import compute_domain_separator, compute_reveal_digest
from protocol.models import Reveal, Segment, Trace, Vote, VoteEntry
from protocol.sortition import is_assigned
from protocol.votes import make_reveal
from tests.integration.conftest import CHAIN_AUDITORS, Chain
from tests.strategies import ADDRESSES, HASHES, VOTE_VECTORS

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples" / "traces").glob("*.json"))
PLANTED = ("6 * 15 = 80", "47 > 52")
AUDITORS = CHAIN_AUDITORS
FEE = 10**16
_nonce = itertools.count()
T = TypeVar("T")


def _fresh(trace: Trace) -> Trace:
    """The same reasoning under a new id: a trace id can be submitted once only."""
    return trace.model_copy(update={"metadata": {"parity_nonce": next(_nonce)}})


def _example(name: str) -> Trace:
    path = REPO / "examples" / "traces" / f"{name}.json"
    return _fresh(Trace.model_validate_json(path.read_bytes()))


def honest(address: str, segment: Segment) -> Vote | None:
    return Vote.INVALID if any(marker in segment.text for marker in PLANTED) else Vote.VALID


def _audit(
    chain: Chain,
    trace: Trace,
    k: int,
    rule: VoteRule,
    on_round: Callable[[Sequence[Reveal]], None] | None = None,
    sealed_round_zero: bool = True,
) -> DirectAudit:
    async def run() -> DirectAudit:
        client = ChainClient(chain.rpc_url)
        try:
            ledger = LedgerClient(client, chain.ledger, chain.registry)
            keys = [dev_private_key(i) for i in range(1, AUDITORS + 1)]
            submitter = Sender.from_key(dev_private_key(0))
            return await run_direct_audit(
                ledger,
                submitter,
                keys,
                trace,
                k,
                rule,
                FEE,
                on_round=on_round,
                sealed_round_zero=sealed_round_zero,
            )
        finally:
            await client.close()

    return asyncio.run(run())


#: What the generated audits exercised, checked at the end so the property cannot pass vacuously.
COVERAGE: Counter[str] = Counter()


def _assert_parity(chain: Chain, audit: DirectAudit) -> None:
    """The contract's stored verdict and emitted payouts equal the protocol's computation."""
    outcome, verdict = audit.outcome, audit.verdict
    COVERAGE[verdict.verdict.name] += 1
    COVERAGE["escalated"] += bool(outcome.escalations)
    COVERAGE["slashed"] += bool(audit.payouts.slashes)
    COVERAGE["absent"] += bool(audit.absences)
    COVERAGE["dropped from round 1"] += any(
        set(outcome.assignments[(0, segment)]) - set(outcome.assignments[(1, segment)])
        for segment, escalation in outcome.escalations.items()
        if escalation.committee_multiplier == 2  # the doubled draw holds all of round 0
    )
    COVERAGE["abstention carried to round 1"] += any(
        outcome.tallies[0][segment].abstain_stake > 0
        for segment, escalation in outcome.escalations.items()
        if escalation.committee_multiplier == 2
    )
    assert verdict.verdict is outcome.trace_verdict
    assert verdict.first_error == outcome.first_error
    expected_segments = [outcome.verdicts[i] for i in range(len(audit.hdag.nodes))]
    assert list(verdict.segment_verdicts) == expected_segments
    rewards, slashes = _payout_events(chain, audit)
    assert rewards == audit.payouts.rewards
    assert slashes == audit.payouts.slashes


def _payout_events(chain: Chain, audit: DirectAudit) -> tuple[dict[str, int], dict[str, int]]:
    async def read() -> tuple[dict[str, int], dict[str, int]]:
        client = ChainClient(chain.rpc_url)
        try:
            ledger = LedgerClient(client, chain.ledger, chain.registry)
            receipt = audit.finalize_receipt
            rewards = {
                str(event["auditor"]).lower(): int(event["amount"])
                for event in ledger.events(receipt, "RewardCredited")
            }
            slashes = {
                str(event["auditor"]).lower(): int(event["amount"])
                for event in ledger.events(receipt, "AuditorPenalized")
            }
            return rewards, {auditor: amount for auditor, amount in slashes.items() if amount}
        finally:
            await client.close()

    return asyncio.run(read())


def test_domain_separator_matches_the_protocol(chain: Chain) -> None:
    async def read() -> bytes:
        client = ChainClient(chain.rpc_url)
        try:
            return await LedgerClient(client, chain.ledger).domain_separator()
        finally:
            await client.close()

    assert asyncio.run(read()) == compute_domain_separator(31337, chain.ledger)


def test_planted_arithmetic_error_is_flawed_on_chain(chain: Chain) -> None:
    audit = _audit(chain, _example("flawed-arithmetic"), 3, honest)
    assert audit.verdict.verdict.name == "FLAWED"
    assert audit.verdict.first_error == 0
    _assert_parity(chain, audit)


def test_sound_trace_is_sound_on_chain(chain: Chain) -> None:
    audit = _audit(chain, _example("sound-apples"), 5, honest)
    assert audit.verdict.verdict.name == "SOUND"
    assert audit.verdict.first_error == -1
    _assert_parity(chain, audit)


BEHAVIOURS = ("honest", "flip", "abstain", "absent", "always-valid")


def _rule(behaviours: dict[str, str]) -> VoteRule:
    def vote(address: str, segment: Segment) -> Vote | None:
        truth = honest(address, segment)
        behaviour = behaviours.get(address, "honest")
        if behaviour == "flip":
            return Vote.VALID if truth is Vote.INVALID else Vote.INVALID
        if behaviour == "abstain":
            return Vote.ABSTAIN
        if behaviour == "absent":
            return None
        if behaviour == "always-valid":
            return Vote.VALID
        return truth

    return vote


AUDITOR_ADDRESSES = [Sender.from_key(dev_private_key(i)).address for i in range(1, AUDITORS + 1)]


def _balances(chain: Chain, addresses: list[str]) -> dict[str, tuple[int, int]]:
    """(rewardsOf, stakeOf) of each address, as `benchmarks/profitability.py` reads profits."""

    async def read() -> dict[str, tuple[int, int]]:
        client = ChainClient(chain.rpc_url)
        try:
            ledger = LedgerClient(client, chain.ledger, chain.registry)
            return {a: (await ledger.rewards_of(a), await ledger.stake_of(a)) for a in addresses}
        finally:
            await client.close()

    return asyncio.run(read())


def test_rewards_of_and_stake_of_move_by_the_payouts(chain: Chain) -> None:
    """A flipping auditor is slashed from its stake, the coherent ones credited in rewardsOf."""
    before = _balances(chain, AUDITOR_ADDRESSES)
    # The committees come from the on-chain seed and the stakes earlier tests left, so a fixed
    # auditor may not be drawn at all: the first auditor asked for a vote flips.
    flippers: list[str] = []
    honest_rule = _rule({})

    def first_asked_flips(address: str, segment: Segment) -> Vote | None:
        flippers[:] = flippers or [address]
        vote = honest_rule(address, segment)
        if address == flippers[0]:
            return Vote.VALID if vote is Vote.INVALID else Vote.INVALID
        return vote

    audit = _audit(chain, _example("flawed-arithmetic"), 5, first_asked_flips)
    after = _balances(chain, AUDITOR_ADDRESSES)
    flipper = flippers[0]
    assert audit.payouts.slashes.get(flipper, 0) > 0
    for address in AUDITOR_ADDRESSES:
        rewarded = after[address][0] - before[address][0]
        slashed = before[address][1] - after[address][1]
        assert rewarded == audit.payouts.rewards.get(address, 0)
        assert slashed == audit.payouts.slashes.get(address, 0)


def test_each_round_is_shown_the_reveals_public_before_it(chain: Chain) -> None:
    """What a copycat reads in `benchmarks/profitability.py`: nothing before either round, as
    round-0 reveals stay sealed to the submitter until round 1's commits close; round 0's
    before round 1 when they are public (the earlier protocol, the benchmark's baseline)."""
    shown: list[Sequence[Reveal]] = []
    _audit(chain, _example("flawed-arithmetic"), 5, _rule({}), on_round=shown.append)
    assert shown == [(), ()]
    shown.clear()
    audit = _audit(
        chain,
        _example("flawed-arithmetic"),
        5,
        _rule({}),
        on_round=shown.append,
        sealed_round_zero=False,
    )
    round_0 = tuple(reveal for reveal in audit.reveals if reveal.round == 0)
    assert round_0
    assert shown == [(), round_0]


def test_rewards_withdrawn_and_added_to_the_stake_are_restaked(chain: Chain) -> None:
    """How an operator restakes (`benchmarks/profitability.py --restake-every`): its rewards
    leave the Ledger for its account, and its stake grows by them."""
    _audit(chain, _example("flawed-arithmetic"), 5, _rule({AUDITOR_ADDRESSES[0]: "flip"}))
    sender = Sender.from_key(dev_private_key(2))
    (rewards, stake) = _balances(chain, [sender.address])[sender.address]
    assert rewards > 0

    async def restake() -> None:
        client = ChainClient(chain.rpc_url)
        try:
            ledger = LedgerClient(client, chain.ledger, chain.registry)
            await ledger.withdraw_rewards(sender)
            await ledger.add_stake(sender, rewards)
        finally:
            await client.close()

    asyncio.run(restake())
    assert _balances(chain, [sender.address])[sender.address] == (0, stake + rewards)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    example=st.sampled_from([path.stem for path in EXAMPLES]),
    k=st.integers(1, 5),
    behaviours=st.lists(st.sampled_from(BEHAVIOURS), min_size=AUDITORS, max_size=AUDITORS),
)
def test_contract_matches_protocol_for_any_behaviour(
    chain: Chain, example: str, k: int, behaviours: list[str]
) -> None:
    rule = _rule(dict(zip(AUDITOR_ADDRESSES, behaviours, strict=True)))
    _assert_parity(chain, _audit(chain, _example(example), k, rule))


def test_generated_audits_covered_every_outcome() -> None:
    """Runs after the property (file order): it must have met every verdict and penalty."""
    assert EXAMPLES and json.loads(EXAMPLES[0].read_text())
    print(dict(COVERAGE))
    for seen in (
        "SOUND",
        "FLAWED",
        "INCONCLUSIVE",
        "escalated",
        "slashed",
        "absent",
        "dropped from round 1",
        "abstention carried to round 1",
    ):
        assert COVERAGE[seen] > 0, f"no generated audit was {seen}: {dict(COVERAGE)}"


# --- Digests and sortition decisions, call by call --------------------------------------------

VECTORS = REPO / "tests" / "vectors"


def _ledger_call(chain: Chain, call: Callable[[LedgerClient], Awaitable[T]]) -> T:
    async def run() -> T:
        client = ChainClient(chain.rpc_url)
        try:
            return await call(LedgerClient(client, chain.ledger, chain.registry))
        finally:
            await client.close()

    return asyncio.run(run())


def test_eip712_vector_digests_match_on_chain(chain: Chain) -> None:
    domain = compute_domain_separator(31337, chain.ledger)
    paths = sorted((VECTORS / "eip712").glob("votes-*.json"))
    assert paths
    for path in paths:
        reveal = Reveal.model_validate_json(
            json.dumps(json.loads(path.read_text())["input"]["reveal"])
        )
        on_chain = _ledger_call(chain, lambda ledger, r=reveal: ledger.reveal_digest(r))
        assert on_chain == compute_reveal_digest(reveal, domain)


def test_sortition_vectors_match_on_chain(chain: Chain) -> None:
    document = json.loads((VECTORS / "sortition" / "predicate.json").read_text())
    seed = document["post"]["seed"]
    for case in document["post"]["cases"]:
        args = (
            seed,
            case["segment"],
            case["auditor"],
            case["stake"],
            case["tier_stake"],
            case["k"],
        )
        assert (
            _ledger_call(chain, lambda ledger, a=args: ledger.is_assigned(*a)) is case["assigned"]
        )


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    trace_id=HASHES,
    round_=st.integers(0, 255),
    votes=VOTE_VECTORS,
    salt=HASHES,
    key=st.integers(1, 2**64),
)
def test_reveal_digests_match_on_chain(
    chain: Chain, trace_id: str, round_: int, votes: tuple[VoteEntry, ...], salt: str, key: int
) -> None:
    domain = compute_domain_separator(31337, chain.ledger)
    reveal = make_reveal("0x" + f"{key:064x}", trace_id, round_, votes, salt, domain)
    assert _ledger_call(chain, lambda ledger: ledger.reveal_digest(reveal)) == (
        compute_reveal_digest(reveal, domain)
    )


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=HASHES,
    segment=st.integers(0, 2**32 - 1),
    auditor=ADDRESSES,
    stake=st.one_of(st.integers(0, 2**96), st.integers(1, 10**20)),
    tier_stake=st.one_of(st.integers(0, 2**128), st.integers(1, 10**21)),
    k=st.integers(0, 2**16),
)
def test_sortition_decisions_match_on_chain(
    chain: Chain, seed: str, segment: int, auditor: str, stake: int, tier_stake: int, k: int
) -> None:
    expected = is_assigned(seed, segment, auditor, stake, tier_stake, k)
    args = (seed, segment, auditor, stake, tier_stake, k)
    assert _ledger_call(chain, lambda ledger: ledger.is_assigned(*args)) is expected


def test_event_logs_read_as_web3_reads_them(chain: Chain) -> None:
    """`ChainClient.get_logs` filters and decodes logs itself: every event the node reads,
    with and without an indexed filter, must come back exactly as web3 returns it."""
    audit = _audit(chain, _example("flawed-arithmetic"), 3, honest)
    trace_id = bytes.fromhex(audit.trace_id.removeprefix("0x"))

    async def compare() -> None:
        client = ChainClient(chain.rpc_url)
        try:
            ledger = LedgerClient(client, chain.ledger, chain.registry)
            events = ledger.ledger.events
            queries = [
                (ledger.registry.events.AuditorRegistered, {}),
                (events.TraceSubmitted, {}),
                (events.TraceSubmitted, {"traceId": trace_id}),
                (events.VerdictFinalized, {"traceId": trace_id}),
                (events.VerdictFinalized, {"traceId": b"\x01" * 32}),
            ]
            for event, filters in queries:
                ours = await client.get_logs(event, 0, "latest", filters)
                theirs = await event.get_logs(from_block=0, argument_filters=filters)
                assert ours == [_web3_shape(log) for log in theirs], event.event_name
            found = await client.get_logs(
                events.VerdictFinalized, 0, "latest", {"traceId": trace_id}
            )
            assert len(found) == 1
        finally:
            await client.close()

    asyncio.run(compare())


def _web3_shape(log: Any) -> dict[str, Any]:
    """The fields of a web3 log that `get_logs` promises."""
    return {
        "args": dict(log["args"]),
        "address": log["address"],
        "blockNumber": log["blockNumber"],
        "transactionHash": bytes(log["transactionHash"]),
        "logIndex": log["logIndex"],
    }
