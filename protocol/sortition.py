"""Cryptographic sortition: which auditors judge which segment, checkable on-chain in O(1).

Auditor `a` of a segment's tier is assigned to segment `s` when

    keccak(abi.encode(seed, s, a)) / 2**256 < min(1, k * stake_a / tierStake)

with `seed = keccak(abi.encode(traceRoot, blockHash))`. The contract evaluates it as

    (h >> 128) * tierStake < (k * stake_a) << 128

which drops the low 128 bits of the hash (it raises the assignment probability by less than
2**-128) and never overflows a uint256 within the valid ranges:
`h >> 128 < 2**128` and `tierStake < 2**128`, so the left product is below 2**256;
`k <= MAX_COMMITTEE_SIZE < 2**16` and `stake <= MAX_STAKE_WEI < 2**96`, so `k * stake < 2**112`
and the shifted right side is below 2**240. When `k * stake >= tierStake` the left side is below
`2**128 * tierStake <= (k * stake) << 128`, so the `min(1, ...)` needs no branch.

Committee sizing trades redundancy against privacy: a larger k means more opinions per segment
but a larger share of the trace in each auditor's hands (`compute_committee_size`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction

from protocol.encoding import abi_address, abi_bytes32, abi_uint, keccak, keccak_hex
from protocol.errors import EncodingError, NoStakeError, SortitionError
from protocol.models import Auditor, Hdag, Level, Tier
from protocol.params import (
    BASIS_POINTS,
    MAX_COMMITTEE_SIZE,
    MAX_SEGMENTS,
    MAX_STAKE_WEI,
    SORTITION_HASH_BITS,
    ProtocolParams,
)
from protocol.segments import compute_visible_spans

#: Tier stakes must stay below this so `(h >> 128) * tierStake` fits in a uint256.
MAX_TIER_STAKE = 2**SORTITION_HASH_BITS - 1

#: Segment numbers travel as uint32 in votes; the sortition hash takes them as uint256.
MAX_SEGMENT = 2**32 - 1

_ROUTED_TIER = {
    Level.OPERATION: Tier.CHECKER,
    Level.STEP: Tier.LLM,
    Level.TACTIC: Tier.LLM,
}


def compute_sortition_seed(trace_root: str, block_hash: str) -> str:
    """keccak(abi.encode(bytes32 traceRoot, bytes32 blockHash)) as 0x-hex."""
    return keccak_hex(abi_bytes32(trace_root) + abi_bytes32(block_hash))


def compute_assignment_hash(seed: str, segment: int, auditor: str) -> bytes:
    """keccak(abi.encode(bytes32 seed, uint256 segment, address auditor))."""
    return keccak(abi_bytes32(seed) + abi_uint(segment) + abi_address(auditor))


def validate_sortition_inputs(
    seed: str, segment: int, auditor: str, stake: int, tier_stake: int, k: int
) -> None:
    """Raise SortitionError naming the first input outside the overflow-free ranges."""
    if not 0 <= segment <= MAX_SEGMENT:
        raise SortitionError(f"segment {segment} is outside [0, {MAX_SEGMENT}]")
    if not 0 < stake <= MAX_STAKE_WEI:
        raise SortitionError(f"stake {stake} is outside (0, MAX_STAKE_WEI]")
    if not 0 < tier_stake <= MAX_TIER_STAKE:
        raise SortitionError(f"tier stake {tier_stake} is outside (0, 2**128)")
    if stake > tier_stake:
        raise SortitionError(f"stake {stake} exceeds its tier's stake {tier_stake}")
    if not 1 <= k <= MAX_COMMITTEE_SIZE:
        raise SortitionError(f"committee size k={k} is outside [1, {MAX_COMMITTEE_SIZE}]")
    try:
        abi_bytes32(seed)
        abi_address(auditor)
    except EncodingError as exc:
        raise SortitionError(f"malformed seed or auditor: {exc}") from exc


def is_assigned(seed: str, segment: int, auditor: str, stake: int, tier_stake: int, k: int) -> bool:
    """The sortition predicate; False (never an exception) for any input out of range."""
    try:
        validate_sortition_inputs(seed, segment, auditor, stake, tier_stake, k)
    except SortitionError:
        return False
    h = int.from_bytes(compute_assignment_hash(seed, segment, auditor), "big")
    return (h >> SORTITION_HASH_BITS) * tier_stake < (k * stake) << SORTITION_HASH_BITS


def compute_tier_stakes(auditors: Sequence[Auditor]) -> dict[Tier, int]:
    """Total stake per tier, every tier present; an auditor counts once in each tier it chose."""
    stakes = dict.fromkeys(Tier, 0)
    for auditor in auditors:
        for tier in set(auditor.tiers):
            stakes[tier] += auditor.stake
    return stakes


def compute_segment_tier(level: Level, tier_stakes: Mapping[Tier, int]) -> Tier:
    """The tier that judges a node of `level`, rerouted when the routed tier has no stake.

    A stakeless tier hands over to the next higher tier with stake, else the nearest lower one;
    raises NoStakeError when no tier has stake.
    """
    routed = _ROUTED_TIER.get(level)
    if routed is None:
        routed = Tier.HUMAN if tier_stakes.get(Tier.HUMAN, 0) > 0 else Tier.LLM
    higher = [tier for tier in Tier if tier >= routed and tier_stakes.get(tier, 0) > 0]
    if higher:
        return higher[0]
    lower = [tier for tier in Tier if tier < routed and tier_stakes.get(tier, 0) > 0]
    if lower:
        return lower[-1]
    raise NoStakeError("no auditor tier has any stake")


def compute_committee(
    seed: str,
    segment: int,
    tier: Tier,
    k: int,
    auditors: Sequence[Auditor],
    tier_stakes: Mapping[Tier, int],
) -> tuple[str, ...]:
    """Sorted addresses of the auditors registered in `tier` that pass `is_assigned`."""
    tier_stake = tier_stakes.get(tier, 0)
    return tuple(
        sorted(
            auditor.address
            for auditor in auditors
            if tier in auditor.tiers
            and is_assigned(seed, segment, auditor.address, auditor.stake, tier_stake, k)
        )
    )


def compute_assignments(
    seed: str, segment_tiers: Sequence[Tier], k: int, auditors: Sequence[Auditor]
) -> dict[int, tuple[str, ...]]:
    """Committee of every segment (index into `segment_tiers`) for one target size k."""
    tier_stakes = compute_tier_stakes(auditors)
    return {
        segment: compute_committee(seed, segment, tier, k, auditors, tier_stakes)
        for segment, tier in enumerate(segment_tiers)
    }


# --- Committee size under the exposure budget --------------------------------------------------


def _compute_chars_per_tier(
    visible_chars: Sequence[int], segment_tiers: Sequence[Tier]
) -> dict[Tier, int]:
    """Visible characters summed over the segments of each tier: exposure is linear in them."""
    chars_per_tier = dict.fromkeys(Tier, 0)
    for chars, tier in zip(visible_chars, segment_tiers, strict=True):
        chars_per_tier[tier] += chars
    return chars_per_tier


def _compute_expected_exposure(
    auditor: Auditor,
    chars_per_tier: Mapping[Tier, int],
    tier_stakes: Mapping[Tier, int],
    text_length: int,
    k: int,
) -> Fraction:
    """Union bound on the expected share of the text `auditor` sees: sum of p_s * chars_s / n."""
    total = Fraction(0)
    for tier in set(auditor.tiers):
        tier_stake = tier_stakes.get(tier, 0)
        if tier_stake > 0:
            probability = min(Fraction(1), Fraction(k * auditor.stake, tier_stake))
            total += probability * chars_per_tier.get(tier, 0)
    return total / text_length


def _validate_exposure_inputs(
    visible_chars: Sequence[int], text_length: int, segment_tiers: Sequence[Tier]
) -> None:
    if text_length <= 0:
        raise SortitionError(f"text length must be positive, got {text_length}")
    if len(visible_chars) != len(segment_tiers):
        raise SortitionError(
            f"{len(visible_chars)} visible-character counts for {len(segment_tiers)} segments"
        )
    if len(segment_tiers) > MAX_SEGMENTS:
        raise SortitionError(f"{len(segment_tiers)} segments exceed MAX_SEGMENTS")
    if any(chars < 0 for chars in visible_chars):
        raise SortitionError("visible character counts must be non-negative")


def compute_expected_exposure_bps(
    visible_chars: Sequence[int],
    text_length: int,
    segment_tiers: Sequence[Tier],
    auditors: Sequence[Auditor],
    k: int,
) -> dict[str, int]:
    """Each auditor's expected share of the text (union bound), floored to basis points.

    The bound can exceed 10000 bps when visible texts overlap (context claims repeat text).
    """
    _validate_exposure_inputs(visible_chars, text_length, segment_tiers)
    chars_per_tier = _compute_chars_per_tier(visible_chars, segment_tiers)
    tier_stakes = compute_tier_stakes(auditors)
    return {
        auditor.address: int(
            _compute_expected_exposure(auditor, chars_per_tier, tier_stakes, text_length, k)
            * BASIS_POINTS
        )
        for auditor in auditors
    }


def compute_committee_size(
    visible_chars: Sequence[int],
    text_length: int,
    segment_tiers: Sequence[Tier],
    auditors: Sequence[Auditor],
    params: ProtocolParams,
) -> int:
    """Largest k in [min_committee_size, committee_size] keeping every auditor within budget.

    Exposure grows with k, so the search stops at the first k (from the top) that fits; when
    none fits the privacy budget yields to the minimum committee, which is returned.
    """
    _validate_exposure_inputs(visible_chars, text_length, segment_tiers)
    chars_per_tier = _compute_chars_per_tier(visible_chars, segment_tiers)
    tier_stakes = compute_tier_stakes(auditors)
    budget = Fraction(params.exposure_budget_bps, BASIS_POINTS)
    for k in range(params.committee_size, params.min_committee_size - 1, -1):
        if all(
            _compute_expected_exposure(a, chars_per_tier, tier_stakes, text_length, k) <= budget
            for a in auditors
        ):
            return k
    return params.min_committee_size


def compute_trace_committee_size(
    hdag: Hdag, snapshot: Sequence[Auditor], params: ProtocolParams
) -> int:
    """k from the exposure budget for this trace and auditor set (design: Privacy)."""
    tier_stakes = compute_tier_stakes(snapshot)
    tiers = [compute_segment_tier(node.level, tier_stakes) for node in hdag.nodes]
    visible = [sum(s.length for s in compute_visible_spans(hdag, n)) for n in hdag.nodes]
    return compute_committee_size(visible, len(hdag.text), tiers, snapshot, params)
