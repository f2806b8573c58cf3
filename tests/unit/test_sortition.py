"""Sortition: seed and assignment hashes, the predicate, tier routing, committee sizing."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak

from protocol.errors import NoStakeError, SortitionError
from protocol.models import Auditor, Level, Tier
from protocol.params import DEVNET, MAX_COMMITTEE_SIZE, MAX_STAKE_WEI
from protocol.signing import compute_address
from protocol.sortition import (
    MAX_TIER_STAKE,
    compute_assignment_hash,
    compute_assignments,
    compute_committee,
    compute_committee_size,
    compute_expected_exposure_bps,
    compute_segment_tier,
    compute_sortition_seed,
    compute_tier_stakes,
    is_assigned,
    validate_sortition_inputs,
)

ROOT = "0x" + "11" * 32
BLOCK = "0x" + "22" * 32
SEED = compute_sortition_seed(ROOT, BLOCK)
ADDRESSES = [compute_address("0x" + f"{i:064x}") for i in range(1, 11)]
ALICE = ADDRESSES[0]


def _auditor(i: int, stake: int, *tiers: Tier) -> Auditor:
    return Auditor(address=ADDRESSES[i], stake=stake, tiers=tiers or (Tier.LLM,))


def _by_hand_assigned(seed: str, segment: int, auditor: str, stake: int, tier: int, k: int) -> bool:
    """The contract's formula, computed from an independent ABI encoder."""
    preimage = abi_encode(
        ["bytes32", "uint256", "address"], [bytes.fromhex(seed[2:]), segment, auditor]
    )
    h = int.from_bytes(keccak(preimage), "big")
    return (h >> 128) * tier < (k * stake) << 128


# --- hashes ------------------------------------------------------------------------------------


def test_seed_is_keccak_of_abi_encoded_root_and_block_hash() -> None:
    expected = keccak(abi_encode(["bytes32", "bytes32"], [b"\x11" * 32, b"\x22" * 32]))
    assert "0x" + expected.hex() == SEED
    assert "0x" + keccak(b"\x11" * 32 + b"\x22" * 32).hex() == SEED


def test_seed_changes_with_the_block_hash() -> None:
    assert compute_sortition_seed(ROOT, "0x" + "23" * 32) != SEED


def test_assignment_hash_is_keccak_of_seed_segment_address() -> None:
    preimage = bytes.fromhex(SEED[2:]) + (7).to_bytes(32, "big") + bytes(12)
    preimage += bytes.fromhex(ALICE[2:])
    assert compute_assignment_hash(SEED, 7, ALICE) == keccak(preimage)


# --- the predicate -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("segment", "auditor_index", "stake", "tier_stake", "k"),
    [
        (0, 0, 1, 10, 3),
        (1, 1, 5, 100, 2),
        (2, 2, 10**18, 10**19, 1),
        (41, 3, 7, 7_000, 5),
        (4095, 4, MAX_STAKE_WEI, MAX_TIER_STAKE, MAX_COMMITTEE_SIZE),
    ],
)
def test_predicate_matches_a_by_hand_computation(
    segment: int, auditor_index: int, stake: int, tier_stake: int, k: int
) -> None:
    auditor = ADDRESSES[auditor_index]
    expected = _by_hand_assigned(SEED, segment, auditor, stake, tier_stake, k)
    assert is_assigned(SEED, segment, auditor, stake, tier_stake, k) is expected


def test_predicate_known_vectors() -> None:
    # Pinned outputs: a change here changes which auditors the contract accepts.
    assert SEED == "0x3e92e0db88d6afea9edc4eedf62fffa4d92bcdfc310dccbe943747fe8302e871"
    assigned = [s for s in range(24) if is_assigned(SEED, s, ALICE, 1, 4, 1)]
    assert assigned == [1, 4, 12, 15, 20, 21]
    assert assigned == [s for s in range(24) if _by_hand_assigned(SEED, s, ALICE, 1, 4, 1)]


def test_predicate_is_deterministic() -> None:
    first = [is_assigned(SEED, s, ALICE, 3, 10, 2) for s in range(50)]
    second = [is_assigned(SEED, s, ALICE, 3, 10, 2) for s in range(50)]
    assert first == second


def test_auditor_with_k_stake_at_least_tier_stake_is_always_assigned() -> None:
    assert all(is_assigned(SEED, s, ALICE, 10, 30, 3) for s in range(300))
    assert all(is_assigned(SEED, s, ALICE, 10, 10, 1) for s in range(300))


def test_empirical_frequency_is_near_k_stake_over_tier_stake() -> None:
    n = 4000
    hits = sum(is_assigned(SEED, s, ALICE, 1, 10, 3) for s in range(n))
    # p = 0.3, standard deviation of the frequency ~ 0.0072: four of them.
    assert abs(hits / n - 0.3) < 0.03


def test_uint256_bounds_at_the_extremes() -> None:
    h_max = 2**256 - 1
    assert (h_max >> 128) * MAX_TIER_STAKE < 2**256
    assert (MAX_COMMITTEE_SIZE * MAX_STAKE_WEI) << 128 < 2**256


@pytest.mark.parametrize(
    ("segment", "stake", "tier_stake", "k", "message"),
    [
        (-1, 1, 10, 1, "segment"),
        (2**32, 1, 10, 1, "segment"),
        (0, 0, 10, 1, "stake 0"),
        (0, MAX_STAKE_WEI + 1, 2**100, 1, "stake"),
        (0, 1, 0, 1, "tier stake"),
        (0, 1, 2**128, 1, "tier stake"),
        (0, 11, 10, 1, "exceeds its tier"),
        (0, 1, 10, 0, "k=0"),
        (0, 1, 10, MAX_COMMITTEE_SIZE + 1, "committee size"),
    ],
)
def test_out_of_range_inputs_are_named_and_never_assigned(
    segment: int, stake: int, tier_stake: int, k: int, message: str
) -> None:
    with pytest.raises(SortitionError, match=message):
        validate_sortition_inputs(SEED, segment, ALICE, stake, tier_stake, k)
    assert is_assigned(SEED, segment, ALICE, stake, tier_stake, k) is False


def test_malformed_seed_or_address_is_rejected() -> None:
    with pytest.raises(SortitionError, match="malformed"):
        validate_sortition_inputs("0x1234", 0, ALICE, 1, 1, 1)
    assert is_assigned(SEED, 0, "0xdead", 1, 1, 1) is False


# --- tiers -------------------------------------------------------------------------------------


def test_tier_stakes_count_an_auditor_in_every_tier_it_registered() -> None:
    auditors = [
        _auditor(0, 5, Tier.CHECKER, Tier.LLM),
        _auditor(1, 7, Tier.LLM),
        _auditor(2, 11, Tier.HUMAN, Tier.HUMAN),
    ]
    assert compute_tier_stakes(auditors) == {Tier.CHECKER: 5, Tier.LLM: 12, Tier.HUMAN: 11}
    assert compute_tier_stakes([]) == {Tier.CHECKER: 0, Tier.LLM: 0, Tier.HUMAN: 0}


ALL = {Tier.CHECKER: 1, Tier.LLM: 1, Tier.HUMAN: 1}


@pytest.mark.parametrize(
    ("level", "stakes", "expected"),
    [
        (Level.OPERATION, ALL, Tier.CHECKER),
        (Level.STEP, ALL, Tier.LLM),
        (Level.TACTIC, ALL, Tier.LLM),
        (Level.STRATEGY, ALL, Tier.HUMAN),
        (Level.GOAL, ALL, Tier.HUMAN),
        (Level.GOAL, {Tier.CHECKER: 1, Tier.LLM: 1, Tier.HUMAN: 0}, Tier.LLM),
        # Routed tier empty: the next higher tier with stake ...
        (Level.OPERATION, {Tier.CHECKER: 0, Tier.LLM: 0, Tier.HUMAN: 1}, Tier.HUMAN),
        (Level.STEP, {Tier.CHECKER: 1, Tier.LLM: 0, Tier.HUMAN: 1}, Tier.HUMAN),
        # ... else the nearest lower one.
        (Level.STEP, {Tier.CHECKER: 1, Tier.LLM: 0, Tier.HUMAN: 0}, Tier.CHECKER),
        (Level.GOAL, {Tier.CHECKER: 1, Tier.LLM: 0, Tier.HUMAN: 0}, Tier.CHECKER),
    ],
)
def test_segment_tier_routing(level: Level, stakes: dict[Tier, int], expected: Tier) -> None:
    assert compute_segment_tier(level, stakes) == expected


def test_segment_tier_without_any_stake_raises() -> None:
    with pytest.raises(NoStakeError, match="no auditor tier"):
        compute_segment_tier(Level.STEP, {Tier.CHECKER: 0, Tier.LLM: 0, Tier.HUMAN: 0})


# --- committees --------------------------------------------------------------------------------


def test_committee_holds_only_assigned_members_of_the_tier_sorted() -> None:
    auditors = [_auditor(i, 10 + i, Tier.LLM) for i in range(6)]
    auditors += [_auditor(6, 1000, Tier.CHECKER), _auditor(7, 20, Tier.CHECKER, Tier.LLM)]
    stakes = compute_tier_stakes(auditors)
    for segment in range(20):
        committee = compute_committee(SEED, segment, Tier.LLM, 3, auditors, stakes)
        expected = sorted(
            a.address
            for a in auditors
            if Tier.LLM in a.tiers
            and _by_hand_assigned(SEED, segment, a.address, a.stake, stakes[Tier.LLM], 3)
        )
        assert committee == tuple(expected)
        assert ADDRESSES[6] not in committee


def test_committee_of_a_stakeless_tier_is_empty() -> None:
    auditors = [_auditor(0, 10, Tier.LLM)]
    stakes = compute_tier_stakes(auditors)
    assert compute_committee(SEED, 0, Tier.HUMAN, 3, auditors, stakes) == ()


def test_assignments_cover_every_segment_with_its_tier() -> None:
    auditors = [_auditor(0, 1, Tier.CHECKER), _auditor(1, 1, Tier.LLM), _auditor(2, 1, Tier.LLM)]
    tiers = [Tier.CHECKER, Tier.LLM, Tier.LLM]
    assignments = compute_assignments(SEED, tiers, 2, auditors)
    # k * stake >= tier stake everywhere: everyone in the tier is assigned.
    assert assignments == {
        0: (ADDRESSES[0],),
        1: tuple(sorted(ADDRESSES[1:3])),
        2: tuple(sorted(ADDRESSES[1:3])),
    }


# --- committee size under the exposure budget --------------------------------------------------


def _ten_equal_auditors() -> list[Auditor]:
    return [_auditor(i, 100, Tier.LLM) for i in range(10)]


def test_expected_exposure_in_basis_points() -> None:
    # Four segments of 25 visible chars each over 100: exposure = 4 * min(1, k/10) * 0.25 = k/10.
    figures = compute_expected_exposure_bps([25] * 4, 100, [Tier.LLM] * 4, _ten_equal_auditors(), 2)
    assert set(figures.values()) == {2000}
    capped = compute_expected_exposure_bps([25] * 4, 100, [Tier.LLM] * 4, _ten_equal_auditors(), 20)
    assert set(capped.values()) == {10_000}


def test_expected_exposure_ignores_segments_of_other_tiers() -> None:
    auditors = [*_ten_equal_auditors(), _auditor(0, 1, Tier.CHECKER)]
    figures = compute_expected_exposure_bps([50, 50], 100, [Tier.CHECKER, Tier.LLM], auditors, 1)
    assert figures[ADDRESSES[1]] == 500  # only the LLM segment: 1/10 * 50/100


#: The search below the devnet's floor of 3, so the budget decides.
LOW_FLOOR = replace(DEVNET, min_committee_size=1)


def test_committee_size_is_the_largest_k_within_budget() -> None:
    args = ([25] * 4, 100, [Tier.LLM] * 4, _ten_equal_auditors())
    assert compute_committee_size(*args, LOW_FLOOR) == 2  # k/10 <= 0.25
    assert compute_committee_size(*args, replace(LOW_FLOOR, exposure_budget_bps=3000)) == 3
    assert compute_committee_size(*args, DEVNET) == 3  # the floor wins over the budget


def test_committee_size_budget_boundary_is_inclusive() -> None:
    params = replace(LOW_FLOOR, exposure_budget_bps=2000)
    assert compute_committee_size([25] * 4, 100, [Tier.LLM] * 4, _ten_equal_auditors(), params) == 2


def test_committee_size_falls_back_to_the_minimum() -> None:
    params = replace(DEVNET, exposure_budget_bps=0, min_committee_size=2)
    assert compute_committee_size([25] * 4, 100, [Tier.LLM] * 4, _ten_equal_auditors(), params) == 2


def test_committee_size_reaches_the_target_with_many_auditors() -> None:
    auditors = [_auditor(i, 100, Tier.LLM) for i in range(10)]
    assert compute_committee_size([1] * 4, 100, [Tier.LLM] * 4, auditors, DEVNET) == 5


def test_committee_size_is_driven_by_the_largest_staker() -> None:
    auditors = [_auditor(0, 400, Tier.LLM)] + [_auditor(i, 100, Tier.LLM) for i in range(1, 7)]
    # Big auditor: min(1, k * 400/1000) * 1.0 <= 0.25 fails for every k >= 1: the floor wins.
    assert compute_committee_size([50, 50], 100, [Tier.LLM] * 2, auditors, DEVNET) == (
        DEVNET.min_committee_size
    )


def test_committee_size_rejects_bad_inputs() -> None:
    with pytest.raises(SortitionError, match="text length"):
        compute_committee_size([1], 0, [Tier.LLM], _ten_equal_auditors(), DEVNET)
    with pytest.raises(SortitionError, match="segments"):
        compute_committee_size([1, 2], 10, [Tier.LLM], _ten_equal_auditors(), DEVNET)
    with pytest.raises(SortitionError, match="non-negative"):
        compute_expected_exposure_bps([-1], 10, [Tier.LLM], _ten_equal_auditors(), 1)
