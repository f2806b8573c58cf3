// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title Consensus
/// @notice The protocol's pure rules, bit for bit as in `protocol/`: sortition, tier routing,
/// segment tally verdicts, escalation, and the segment layout a trace commits to.
/// @dev Constants equal `protocol.params.DEVNET`. Tiers and depths are plain integers here:
/// tier 0 checker, 1 LLM, 2 human; depth 1 goal, 2 strategy, 3 tactic, 4 step, 5 operation.
library Consensus {
    uint256 internal constant BASIS_POINTS = 10_000;
    uint256 internal constant QUORUM_NUM = 1;
    uint256 internal constant QUORUM_DEN = 2;
    uint256 internal constant SUPERMAJORITY_NUM = 2;
    uint256 internal constant SUPERMAJORITY_DEN = 3;
    uint256 internal constant SLASH_BPS = 100;
    uint256 internal constant ABSTAIN_ESCALATION_BPS = 5_000;
    uint256 internal constant MAX_ROUNDS = 2;
    uint256 internal constant MAX_SEGMENTS = 4_096;
    uint256 internal constant MAX_COMMITTEE_SIZE = 65_535;
    uint256 internal constant TIER_COUNT = 3;

    /// @dev `ILedger.Vote` and `ILedger.SegmentVerdict` values, as integers.
    uint256 internal constant ABSTAIN = 0;
    uint256 internal constant VALID = 1;
    uint256 internal constant INVALID = 2;
    uint256 internal constant UNRESOLVED = 0;

    uint256 internal constant DEPTH_GOAL = 1;
    uint256 internal constant DEPTH_STRATEGY = 2;
    uint256 internal constant DEPTH_TACTIC = 3;
    uint256 internal constant DEPTH_STEP = 4;
    uint256 internal constant DEPTH_OPERATION = 5;
    uint256 internal constant LAYOUT_ENTRY_BYTES = 3;

    uint256 private constant _CHECKER = 0;
    uint256 private constant _LLM = 1;
    uint256 private constant _HUMAN = 2;

    /// @notice `protocol.sortition.is_assigned`: `(h >> 128) * tierStake < (k * stake) << 128`
    /// with `h = keccak256(abi.encode(seed, uint256(segment), auditor))`.
    /// @dev False for a zero stake, a zero tier stake or a stake above its tier's; the registry
    /// keeps stake < 2**96, so with k < 2**16 and tierStake < 2**128 no product overflows.
    function isAssigned(
        bytes32 seed,
        uint256 segment,
        address auditor,
        uint256 stake,
        uint256 tierStake,
        uint256 k
    ) internal pure returns (bool) {
        if (stake == 0 || stake > tierStake) return false;
        return isWithinBound(seed, segment, auditor, tierStake, assignmentBound(k, stake));
    }

    /// @notice The right side of the sortition predicate: `(k * stake) << 128`.
    function assignmentBound(uint256 k, uint256 stake) internal pure returns (uint256) {
        return (k * stake) << 128;
    }

    /// @notice The sortition predicate against a precomputed bound.
    function isWithinBound(
        bytes32 seed,
        uint256 segment,
        address auditor,
        uint256 tierStake,
        uint256 bound
    ) internal pure returns (bool) {
        uint256 h;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, seed)
            mstore(add(ptr, 0x20), segment)
            mstore(add(ptr, 0x40), and(auditor, 0xffffffffffffffffffffffffffffffffffffffff))
            h := keccak256(ptr, 0x60)
        }
        return (h >> 128) * tierStake < bound;
    }

    /// @notice `protocol.sortition.compute_segment_tier` for a node of `depth`.
    /// @dev Callers guarantee some tier has stake; otherwise the routed tier is returned.
    function routeTier(uint256 depth, uint256[3] memory tierStakes)
        internal
        pure
        returns (uint256)
    {
        uint256 routed;
        if (depth == DEPTH_OPERATION) routed = _CHECKER;
        else if (depth == DEPTH_STEP || depth == DEPTH_TACTIC) routed = _LLM;
        else routed = tierStakes[_HUMAN] > 0 ? _HUMAN : _LLM;
        for (uint256 tier = routed; tier < TIER_COUNT; ++tier) {
            if (tierStakes[tier] > 0) return tier;
        }
        for (uint256 tier = routed; tier > 0; --tier) {
            if (tierStakes[tier - 1] > 0) return tier - 1;
        }
        return routed;
    }

    /// @notice `protocol.consensus.compute_segment_verdict` of one tally: quorum
    /// `revealed * 2 >= assigned && revealed > 0`, then a 2/3 supermajority of revealed stake.
    /// @param absent Assigned stake that revealed nothing; assigned = revealed + absent.
    function segmentVerdict(uint256 abstain, uint256 valid, uint256 invalid, uint256 absent)
        internal
        pure
        returns (uint256)
    {
        // Stake sums stay below 2**128 (total ETH), so none of this can overflow.
        unchecked {
            uint256 revealed = abstain + valid + invalid;
            if (revealed == 0 || revealed * QUORUM_DEN < (revealed + absent) * QUORUM_NUM) {
                return UNRESOLVED;
            }
            uint256 threshold = revealed * SUPERMAJORITY_NUM;
            if (valid * SUPERMAJORITY_DEN >= threshold) return VALID;
            if (invalid * SUPERMAJORITY_DEN >= threshold) return INVALID;
            return UNRESOLVED;
        }
    }

    /// @notice `protocol.consensus.is_quorate`.
    function isQuorate(uint256 revealed, uint256 assigned) internal pure returns (bool) {
        return revealed > 0 && revealed * QUORUM_DEN >= assigned * QUORUM_NUM;
    }

    /// @notice `protocol.consensus.compute_escalation` of an UNRESOLVED round-0 tally.
    /// @return tier The round-1 tier.
    /// @return doubled True for a doubled committee in the same tier, false for the next tier
    /// with stake at the same committee size.
    function escalate(uint256 abstain, uint256 revealed, uint256 tier, uint256[3] memory stakes)
        internal
        pure
        returns (uint256, bool doubled)
    {
        if (revealed > 0 && abstain * BASIS_POINTS >= revealed * ABSTAIN_ESCALATION_BPS) {
            for (uint256 higher = tier + 1; higher < TIER_COUNT; ++higher) {
                if (stakes[higher] > 0) return (higher, false);
            }
        }
        return (tier, true);
    }

    /// @notice Round-1 committee size of a doubled committee: `min(k * 2, 65535)`.
    function doubledCommittee(uint256 k) internal pure returns (uint256) {
        uint256 doubled = k * 2;
        return doubled < MAX_COMMITTEE_SIZE ? doubled : MAX_COMMITTEE_SIZE;
    }

    /// @notice Level depth of segment `segment` in a layout.
    function depthAt(bytes calldata segmentLayout, uint256 segment) internal pure returns (uint256) {
        return uint8(segmentLayout[segment * LAYOUT_ENTRY_BYTES]);
    }

    /// @notice Step index of segment `segment` in a layout (uint16 big-endian).
    function stepAt(bytes calldata segmentLayout, uint256 segment) internal pure returns (uint256) {
        uint256 offset = segment * LAYOUT_ENTRY_BYTES;
        return (uint256(uint8(segmentLayout[offset + 1])) << 8) | uint8(segmentLayout[offset + 2]);
    }

    /// @notice The offset of the first malformed byte of a layout, or type(uint256).max when it
    /// is well formed: 3 bytes per segment, 1 to 4096 segments, depths 1-5, one goal at 0.
    function findLayoutError(bytes calldata segmentLayout) internal pure returns (uint256) {
        uint256 length = segmentLayout.length;
        uint256 count = length / LAYOUT_ENTRY_BYTES;
        if (count * LAYOUT_ENTRY_BYTES != length || count == 0 || count > MAX_SEGMENTS) {
            return length;
        }
        if (depthAt(segmentLayout, 0) != DEPTH_GOAL) return 0;
        for (uint256 segment = 1; segment < count; ++segment) {
            uint256 depth = depthAt(segmentLayout, segment);
            if (depth <= DEPTH_GOAL || depth > DEPTH_OPERATION) {
                return segment * LAYOUT_ENTRY_BYTES;
            }
        }
        return type(uint256).max;
    }
}
