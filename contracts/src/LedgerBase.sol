// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ILedger} from "./interfaces/ILedger.sol";
import {IRegistry} from "./interfaces/IRegistry.sol";
import {Consensus} from "./libraries/Consensus.sol";

/// @title LedgerBase
/// @notice Storage, parameters, EIP-712 reveal verification, the per-segment routing record,
/// pull payments and views shared by the finalization and dispute halves of the Ledger.
/// @dev A segment's routing byte packs: bits 0-1 final `SegmentVerdict`, bits 2-3 round-0 tier,
/// bit 4 escalated, bits 5-6 round-1 tier, bit 7 round-1 committee doubled.
abstract contract LedgerBase is ILedger, EIP712, ReentrancyGuardTransient {
    /// @notice Quorum: revealed * QUORUM_DEN >= assigned * QUORUM_NUM (protocol.params.DEVNET).
    uint256 public constant QUORUM_NUM = Consensus.QUORUM_NUM;
    /// @notice See QUORUM_NUM.
    uint256 public constant QUORUM_DEN = Consensus.QUORUM_DEN;
    /// @notice Supermajority: side * SUPERMAJORITY_DEN >= revealed * SUPERMAJORITY_NUM.
    uint256 public constant SUPERMAJORITY_NUM = Consensus.SUPERMAJORITY_NUM;
    /// @notice See SUPERMAJORITY_NUM.
    uint256 public constant SUPERMAJORITY_DEN = Consensus.SUPERMAJORITY_DEN;
    /// @notice Stake lost per wrong or absent vote, in basis points.
    uint256 public constant SLASH_BPS = Consensus.SLASH_BPS;
    /// @notice Stake lost for equivocation, in basis points.
    uint256 public constant EQUIVOCATION_SLASH_BPS = 1_000;
    /// @notice Abstaining share of revealed stake that sends a segment up a tier.
    uint256 public constant ABSTAIN_ESCALATION_BPS = Consensus.ABSTAIN_ESCALATION_BPS;
    /// @notice Rounds 0 and 1.
    uint256 public constant MAX_ROUNDS = Consensus.MAX_ROUNDS;
    /// @notice Largest number of segments of one trace.
    uint256 public constant MAX_SEGMENTS = Consensus.MAX_SEGMENTS;
    /// @notice Largest committee size.
    uint256 public constant MAX_COMMITTEE_SIZE = Consensus.MAX_COMMITTEE_SIZE;

    /// @dev keccak256("Vote(uint32 segment,uint8 vote,uint16 confidence)"), as a literal so
    /// assembly can use it (the tests recompute it from the type string).
    bytes32 internal constant _VOTE_TYPEHASH =
        0x914c4644b96ab775d8822d3e0f1a6ddfe39c09e58f968e722ef3f627f4e2f402;
    bytes32 private constant _REVEAL_TYPEHASH = keccak256(
        "Reveal(bytes32 traceId,uint8 round,address auditor,Vote[] votes,bytes32 rationales,"
        "bytes32 salt)Vote(uint32 segment,uint8 vote,uint16 confidence)"
    );
    /// @dev Bytes of one packed vote: uint32 segment, uint8 vote, uint16 confidence.
    uint256 internal constant _VOTE_BYTES = 7;

    uint256 internal constant _VERDICT_MASK = 0x03;
    uint256 internal constant _TIER_MASK = 0x03;
    uint256 internal constant _TIER0_SHIFT = 2;
    uint256 internal constant _ESCALATED = 1 << 4;
    uint256 internal constant _TIER1_SHIFT = 5;
    uint256 internal constant _DOUBLED = 1 << 7;
    uint256 internal constant _NO_ERROR = type(uint32).max;
    /// @dev participantsHash of a submitted, unfinalized trace (a non-zero placeholder).
    bytes32 internal constant _UNSET = bytes32(uint256(1));

    /// @dev `_disputeFlags` bits: immune, absence slashed, equivocation slashed in round 0 / 1.
    uint256 internal constant _IMMUNE = 1;
    uint256 internal constant _ABSENCE_SLASHED = 2;
    uint256 internal constant _EQUIVOCATION_SLASHED = 4;

    /// @dev What sortition needs to know about a trace, loaded once per call.
    struct Snapshot {
        bytes32 seed;
        uint256 k;
        uint256 blockNumber;
        uint256 count;
        uint256[3] tierStakes;
    }

    /// @dev A revealing or absent auditor in one round, with its snapshot stake and tiers.
    /// `bound` and `doubledBound` are the sortition bounds `(size * stake) << 128` for a
    /// committee of k and of min(2k, 65535), so each vote costs one hash and one product.
    struct Voter {
        address auditor;
        uint256 round;
        uint256 stake;
        uint256 tierMask;
        uint256 bound;
        uint256 doubledBound;
    }

    IRegistry internal immutable _registry;
    uint256 internal immutable _minFee;
    uint256 internal immutable _disputeWindow;

    mapping(bytes32 traceId => TraceRecord) internal _traces;
    mapping(bytes32 traceId => bytes routing) internal _segmentRecords;
    mapping(address account => uint256 wei_) internal _rewards;
    mapping(bytes32 traceId => mapping(address auditor => uint256 flags)) internal _disputeFlags;

    /// @param registry_ The auditor registry whose stakes draw committees.
    /// @param minFee_ Smallest fee (wei) a trace submission must pay.
    /// @param disputeWindow_ Seconds after finalization for proving omitted reveals.
    constructor(IRegistry registry_, uint256 minFee_, uint256 disputeWindow_)
        EIP712("TRUST Ledger", "1")
    {
        _registry = registry_;
        _minFee = minFee_;
        _disputeWindow = disputeWindow_;
    }

    /// @notice Accepts slashed stake from the registry only, so balances stay accounted for.
    receive() external payable {
        if (msg.sender != address(_registry)) revert UnexpectedPayment(msg.sender);
    }

    /// @inheritdoc ILedger
    function withdrawRewards() external nonReentrant {
        uint256 amount = _rewards[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        _rewards[msg.sender] = 0;
        emit RewardsWithdrawn(msg.sender, amount);
        Address.sendValue(payable(msg.sender), amount);
    }

    /// @inheritdoc ILedger
    function verdictOf(bytes32 traceId)
        external
        view
        returns (
            TraceVerdict verdict,
            uint32 firstError,
            bytes memory segmentVerdicts,
            uint64 finalizedAt
        )
    {
        TraceRecord storage trace = _traces[traceId];
        segmentVerdicts = _segmentRecords[traceId];
        for (uint256 segment = 0; segment < segmentVerdicts.length; ++segment) {
            segmentVerdicts[segment] = bytes1(uint8(segmentVerdicts[segment]) & 0x03);
        }
        return (trace.verdict, trace.firstError, segmentVerdicts, trace.finalizedAt);
    }

    /// @inheritdoc ILedger
    function traceOf(bytes32 traceId) external view returns (TraceRecord memory) {
        return _traces[traceId];
    }

    /// @inheritdoc ILedger
    function segmentRecordsOf(bytes32 traceId) external view returns (bytes memory) {
        return _segmentRecords[traceId];
    }

    /// @inheritdoc ILedger
    function rewardsOf(address account) external view returns (uint256) {
        return _rewards[account];
    }

    /// @inheritdoc ILedger
    function participantKey(uint8 round, address auditor) external pure returns (uint256) {
        return _participantKey(round, auditor);
    }

    /// @inheritdoc ILedger
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @inheritdoc ILedger
    function disputeWindow() external view returns (uint256) {
        return _disputeWindow;
    }

    /// @notice The registry this ledger draws committees from.
    function registry() external view returns (IRegistry) {
        return _registry;
    }

    /// @notice Smallest fee a submission must pay.
    function minFee() external view returns (uint256) {
        return _minFee;
    }

    /// @inheritdoc ILedger
    function revealDigest(bytes32 traceId, SignedReveal calldata reveal)
        external
        view
        returns (bytes32)
    {
        uint256 count = _voteCount(reveal.votes, reveal.auditor);
        bytes32[] memory hashes = new bytes32[](count);
        for (uint256 i = 0; i < count; ++i) {
            (,, hashes[i]) = _readVote(reveal.votes, i, reveal.auditor);
        }
        return _revealDigest(traceId, reveal, _hashWords(hashes));
    }

    /// @inheritdoc ILedger
    function isAssigned(
        bytes32 seed,
        uint256 segment,
        address auditor,
        uint256 stake,
        uint256 tierStake,
        uint256 k
    ) external pure returns (bool) {
        bool inRange = stake < 2 ** 96 && tierStake < 2 ** 128 && k >= 1
            && k <= Consensus.MAX_COMMITTEE_SIZE;
        return inRange && Consensus.isAssigned(seed, segment, auditor, stake, tierStake, k);
    }

    /// @dev The EIP-712 digest of `reveal` for `traceId`; `votesHash` hashes its votes.
    function _revealDigest(bytes32 traceId, SignedReveal calldata reveal, bytes32 votesHash)
        internal
        view
        returns (bytes32)
    {
        bytes32 structHash = keccak256(
            abi.encode(
                _REVEAL_TYPEHASH,
                traceId,
                reveal.round,
                reveal.auditor,
                votesHash,
                reveal.rationales,
                reveal.salt
            )
        );
        return _hashTypedDataV4(structHash);
    }

    /// @dev Reverts with InvalidSignature unless `reveal` is signed by its auditor for
    /// `traceId` under this chain and contract; `votesHash` is the EIP-712 hash of its votes.
    function _checkSignature(bytes32 traceId, SignedReveal calldata reveal, bytes32 votesHash)
        internal
        view
    {
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(
            _revealDigest(traceId, reveal, votesHash), reveal.signature
        );
        if (err != ECDSA.RecoverError.NoError || signer != reveal.auditor) {
            revert InvalidSignature(reveal.auditor);
        }
    }

    /// @dev keccak256 of a packed bytes32 array: the EIP-712 hash of an array of structs.
    function _hashWords(bytes32[] memory words) internal pure returns (bytes32 hash) {
        assembly ("memory-safe") {
            hash := keccak256(add(words, 0x20), mul(mload(words), 0x20))
        }
    }

    /// @dev Number of packed votes in `votes`; reverts with EmptyVotes or MalformedVotes unless
    /// it is a positive whole number of 7-byte entries.
    function _voteCount(bytes calldata votes, address auditor) internal pure returns (uint256) {
        uint256 length = votes.length;
        if (length == 0) revert EmptyVotes(auditor);
        if (length % _VOTE_BYTES != 0) revert MalformedVotes(auditor);
        return length / _VOTE_BYTES;
    }

    /// @dev Fields of packed vote `i` (callers keep `i` below the vote count, so the 32-byte
    /// load starts inside `votes`; the bytes past the entry are shifted out).
    function _unpackVote(bytes calldata votes, uint256 i)
        internal
        pure
        returns (uint256 segment, uint256 vote, uint256 confidence)
    {
        assembly ("memory-safe") {
            let word := calldataload(add(votes.offset, mul(i, 7)))
            segment := shr(224, word)
            vote := and(shr(216, word), 0xff)
            confidence := and(shr(200, word), 0xffff)
        }
    }

    /// @dev Packed vote `i`: its segment, its value and its EIP-712 `Vote` struct hash.
    /// Reverts with InvalidVote for a value outside `Vote` or a confidence above 10000 bps.
    function _readVote(bytes calldata votes, uint256 i, address auditor)
        internal
        pure
        returns (uint256 segment, uint256 vote, bytes32 hash)
    {
        uint256 confidence;
        (segment, vote, confidence) = _unpackVote(votes, i);
        if (vote > Consensus.INVALID || confidence > Consensus.BASIS_POINTS) {
            revert InvalidVote(auditor, uint32(segment));
        }
        hash = keccak256(abi.encode(_VOTE_TYPEHASH, segment, vote, confidence));
    }

    /// @dev Checks the order of vote `i`'s segment and returns the segment, value and hash.
    function _readOrderedVote(
        bytes calldata votes,
        uint256 i,
        uint256 previous,
        uint256 count,
        address auditor
    ) internal pure returns (uint256 segment, uint256 vote, bytes32 hash) {
        (segment, vote, hash) = _readVote(votes, i, auditor);
        if (segment >= count || (i > 0 && segment <= previous)) {
            revert InvalidSegment(auditor, uint32(segment));
        }
    }

    /// @dev Whether `voter` was drawn for `segment` (routing byte `route`) in its round:
    /// protocol.sortition.is_assigned with the round's tier and committee size.
    function _isAssignedTo(
        Snapshot memory snap,
        uint256 route,
        uint256 segment,
        Voter memory voter
    ) internal pure returns (bool) {
        uint256 tier;
        uint256 bound;
        if (voter.round == 0) {
            tier = (route >> _TIER0_SHIFT) & _TIER_MASK;
            bound = voter.bound;
        } else {
            if (route & _ESCALATED == 0) return false;
            tier = (route >> _TIER1_SHIFT) & _TIER_MASK;
            bound = route & _DOUBLED == 0 ? voter.bound : voter.doubledBound;
        }
        if (voter.tierMask & (1 << tier) == 0) return false;
        uint256 tierStake = snap.tierStakes[tier];
        if (bound == 0 || voter.stake > tierStake) return false;
        return Consensus.isWithinBound(snap.seed, segment, voter.auditor, tierStake, bound);
    }

    /// @dev Reverts with NotAssigned unless `voter` was drawn for `segment` in its round.
    function _requireAssigned(
        Snapshot memory snap,
        uint256 route,
        uint256 segment,
        Voter memory voter
    ) internal pure {
        if (!_isAssignedTo(snap, route, segment, voter)) {
            revert NotAssigned(voter.auditor, uint8(voter.round), uint32(segment));
        }
    }

    /// @dev Whether round-1 `voter` on `segment` needs a VALID or INVALID round-0 vote on it:
    /// the segment escalated to a doubled committee (same tier) and `voter` sat on its round-0
    /// committee (protocol.consensus._drop_round_zero_non_voters).
    function _needsRoundZeroVote(
        Snapshot memory snap,
        uint256 route,
        uint256 segment,
        Voter memory voter
    ) internal pure returns (bool needs) {
        if (route & _DOUBLED == 0) return false;
        voter.round = 0;
        needs = _isAssignedTo(snap, route, segment, voter);
        voter.round = 1;
    }

    /// @dev Whether checked, segment-sorted packed `votes` hold VALID or INVALID on `segment`
    /// (binary search over the 7-byte entries).
    function _decidesOn(bytes calldata votes, uint256 segment) internal pure returns (bool) {
        uint256 low = 0;
        uint256 high = votes.length / _VOTE_BYTES;
        while (low < high) {
            uint256 mid = (low + high) / 2;
            (uint256 voted, uint256 vote,) = _unpackVote(votes, mid);
            if (voted == segment) return vote != Consensus.ABSTAIN;
            if (voted < segment) low = mid + 1;
            else high = mid;
        }
        return false;
    }

    /// @dev The sortition inputs of a trace, with its snapshot tier stakes.
    function _loadSnapshot(TraceRecord storage trace) internal view returns (Snapshot memory snap) {
        snap.seed = trace.seed;
        snap.k = trace.k;
        snap.blockNumber = trace.snapshotBlock;
        snap.count = trace.segmentCount;
        snap.tierStakes = _registry.tierStakesAt(snap.blockNumber);
    }

    /// @dev `auditor` in `round` with its snapshot stake and tier mask.
    function _loadVoter(Snapshot memory snap, address auditor, uint256 round)
        internal
        view
        returns (Voter memory voter)
    {
        voter.auditor = auditor;
        voter.round = round;
        (voter.stake, voter.tierMask) = _registry.stakeAndTiersAt(auditor, snap.blockNumber);
        voter.bound = Consensus.assignmentBound(snap.k, voter.stake);
        voter.doubledBound = Consensus.assignmentBound(Consensus.doubledCommittee(snap.k), voter.stake);
    }

    /// @dev `uint256(round) << 160 | uint160(auditor)`: participant lists sort by it.
    function _participantKey(uint256 round, address auditor) internal pure returns (uint256) {
        return (round << 160) | uint160(auditor);
    }
}
