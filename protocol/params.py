"""Protocol constants in three tiers, as the consensus specs arrange them.

1. Fixed constants: changing one changes the wire format or the on-chain arithmetic.
2. Presets: named parameter sets (`MINIMAL` for fast tests, `DEVNET` for the local network).
3. Per-deployment configuration: a `ProtocolParams` built from a preset with overrides.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# --- Fixed constants ---------------------------------------------------------------------------

#: EIP-712 domain name and version; the Ledger contract declares the same.
EIP712_DOMAIN_NAME = "TRUST Ledger"
EIP712_DOMAIN_VERSION = "1"

#: Confidences and fractions travel as integer basis points so every tally is exact.
BASIS_POINTS = 10_000

#: Sortition compares the top 128 bits of a keccak hash: with stakes below 2**96 wei and
#: k below 2**16 every product fits in a uint256 on-chain (see `protocol.sortition`).
SORTITION_HASH_BITS = 128
MAX_STAKE_WEI = 2**96 - 1
MAX_COMMITTEE_SIZE = 2**16 - 1

#: Rounds are numbered from 0; round 1 is the single escalation round.
MAX_ROUNDS = 2

#: Input limits: anything larger is refused with a named error before any work is done.
MAX_RECORD_BYTES = 1_048_576
MAX_TEXT_CHARS = 200_000
MAX_PROBLEM_CHARS = 50_000
MAX_STEPS = 2_000
MAX_SEGMENTS = 4_096
MAX_VOTES_PER_REVEAL = MAX_SEGMENTS
#: Most round-0 members a round-1 plan leaves out of one doubled committee (they sat on its
#: round-0 committee, which is far smaller in any real deployment).
MAX_PLAN_EXCLUDED = 1_024


# --- Presets and per-deployment configuration --------------------------------------------------


@dataclass(frozen=True)
class ProtocolParams:
    """Tunable protocol parameters. Fractions are integer ratios, never floats."""

    #: Target number of auditors per segment before the privacy budget lowers it.
    committee_size: int
    #: Smallest committee the privacy budget may choose. Three, not fewer: with one expected
    #: auditor a segment's committee is empty about a third of the time on a small network, and
    #: with two a committee of one auditor is common, whose vote alone decides the segment (on
    #: the devnet an always-flipping 10% auditor then turned a sound trace FLAWED).
    min_committee_size: int
    #: Quorum: revealed stake * QUORUM_DEN >= assigned stake * QUORUM_NUM.
    quorum_num: int
    quorum_den: int
    #: Supermajority: side stake * SUPERMAJORITY_DEN >= revealed stake * SUPERMAJORITY_NUM.
    supermajority_num: int
    supermajority_den: int
    #: Fraction of stake lost per wrong or absent vote, in basis points.
    slash_bps: int
    #: Exposure budget: expected share of a trace one auditor may see, in basis points.
    exposure_budget_bps: int
    #: Escalation moves a segment up a tier when at least this share of revealed stake abstained.
    abstain_escalation_bps: int


DEVNET = ProtocolParams(
    committee_size=5,
    min_committee_size=3,
    quorum_num=1,
    quorum_den=2,
    supermajority_num=2,
    supermajority_den=3,
    slash_bps=100,
    exposure_budget_bps=2_500,
    abstain_escalation_bps=5_000,
)

MINIMAL = replace(DEVNET, committee_size=3)

PRESETS: dict[str, ProtocolParams] = {"devnet": DEVNET, "minimal": MINIMAL}
