// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title ILedger
/// @notice Trace commitments, trustless finalization of stake-weighted audits, rewards, slashes
/// and disputes of the TRUST network.
/// @dev Enum orders equal `protocol.models`; hashes and arithmetic equal `protocol/` (see
/// docs/protocol.md). A participant key is `uint256(round) << 160 | uint160(auditor)`.
interface ILedger {
    /// @notice One auditor's judgement of one segment.
    enum Vote {
        ABSTAIN,
        VALID,
        INVALID
    }

    /// @notice Outcome of the stake-weighted tally of one segment.
    enum SegmentVerdict {
        UNRESOLVED,
        VALID,
        INVALID
    }

    /// @notice Outcome for a whole trace; NONE until it is finalized.
    enum TraceVerdict {
        NONE,
        SOUND,
        FLAWED,
        INCONCLUSIVE
    }

    /// @notice One vote of a vote vector, the EIP-712 type
    /// `Vote(uint32 segment,uint8 vote,uint16 confidence)`. Reveals carry votes packed (see
    /// `SignedReveal.votes`); this struct documents the signed type and serves off-chain callers.
    /// @param vote A `Vote` value (kept as uint8 to match the signed type).
    /// @param confidence Basis points, at most 10000.
    struct VoteEntry {
        uint32 segment;
        uint8 vote;
        uint16 confidence;
    }

    /// @notice An auditor's signed reveal of its votes for one trace and round, signed as the
    /// EIP-712 type `Reveal(bytes32 traceId,uint8 round,address auditor,Vote[] votes,
    /// bytes32 rationales,bytes32 salt)`.
    /// @param votes `VoteEntry`s packed 7 bytes each (uint32 segment, uint8 vote, uint16
    /// confidence, big-endian): a quarter of the calldata of ABI tuples. Sorted by segment, one
    /// per segment, at least one. The contract rebuilds each `Vote` struct hash from them.
    /// @param rationales keccak256 of the concatenated per-vote rationale hashes, in vote order
    /// (one commitment per reveal; the rationales themselves stay off-chain).
    /// @param signature 65 bytes r || s || v over the EIP-712 `Reveal` digest.
    struct SignedReveal {
        address auditor;
        uint8 round;
        bytes votes;
        bytes32 rationales;
        bytes32 salt;
        bytes signature;
    }

    /// @notice An assigned auditor that revealed nothing in `round`, with the segments it was
    /// assigned to (sorted, each checked by sortition).
    struct Absence {
        address auditor;
        uint8 round;
        uint32[] segments;
    }

    /// @notice A submitted trace and, once finalized, its outcome.
    /// @param snapshotBlock Block whose stakes draw the committees: the one before submission.
    /// @param segmentCount Number of HDAG segments (layout length / 3).
    /// @param verdict NONE until finalized.
    /// @param contested Set when a dispute showed the finalized report incomplete.
    /// @param layoutHash keccak256 of the submitted layout.
    /// @param firstError Step index of the first error, type(uint32).max unless FLAWED.
    /// @param participantsHash keccak256(abi.encodePacked(sorted participant keys)); 1 until
    /// finalized (submission prepays the slot).
    /// @dev The Merkle root is not stored (nothing on-chain reads it after the seed is drawn):
    /// it is in the `TraceSubmitted` event.
    struct TraceRecord {
        address submitter;
        uint48 snapshotBlock;
        uint16 k;
        uint16 segmentCount;
        TraceVerdict verdict;
        bool contested;
        bytes32 seed;
        bytes32 layoutHash;
        uint128 fee;
        uint64 finalizedAt;
        uint32 firstError;
        bytes32 participantsHash;
    }

    /// @notice A trace was committed; `seed` draws its committees.
    event TraceSubmitted(
        bytes32 indexed traceId,
        address indexed submitter,
        bytes32 root,
        bytes32 seed,
        uint16 k,
        bytes segmentLayout
    );
    /// @notice A trace's audit was finalized; one `SegmentVerdict` byte per segment.
    event VerdictFinalized(
        bytes32 indexed traceId, TraceVerdict verdict, uint32 firstError, bytes segmentVerdicts
    );
    /// @notice `auditor` can withdraw `amount` more wei, earned on `traceId`.
    event RewardCredited(bytes32 indexed traceId, address indexed auditor, uint256 amount);
    /// @notice `auditor` lost `amount` wei for wrong or absent votes on `traceId`.
    event AuditorPenalized(bytes32 indexed traceId, address indexed auditor, uint256 amount);
    /// @notice `auditor` signed two different vote vectors for one trace and round.
    event EquivocationSlashed(
        bytes32 indexed traceId,
        address indexed auditor,
        uint8 round,
        address indexed reporter,
        uint256 amount
    );
    /// @notice `auditor` proved a reveal that the finalized report left out.
    event RevealProven(bytes32 indexed traceId, address indexed auditor, uint8 round);
    /// @notice A dispute showed that the report behind `traceId`'s verdict was incomplete.
    event VerdictContested(bytes32 indexed traceId);
    /// @notice An assigned auditor missing from a finalized report lost `amount` wei.
    event AbsenceSlashed(
        bytes32 indexed traceId,
        address indexed auditor,
        uint8 round,
        address indexed reporter,
        uint256 amount
    );
    /// @notice `account` withdrew `amount` wei of rewards.
    event RewardsWithdrawn(address indexed account, uint256 amount);

    /// @notice No trace `traceId` was submitted.
    error UnknownTrace(bytes32 traceId);
    /// @notice `traceId` was submitted already.
    error TraceAlreadySubmitted(bytes32 traceId);
    /// @notice `traceId` is finalized already.
    error AlreadyFinalized(bytes32 traceId);
    /// @notice `traceId` is not finalized yet.
    error NotFinalized(bytes32 traceId);
    /// @notice The fee is below the minimum.
    error FeeTooLow(uint256 fee, uint256 minFee);
    /// @notice The fee does not fit the trace record.
    error FeeTooHigh(uint256 fee);
    /// @notice The committee size must be at least 1.
    error InvalidCommitteeSize(uint256 k);
    /// @notice The layout is malformed at byte `offset` (length, level or goal placement).
    error InvalidLayout(uint256 offset);
    /// @notice No tier had stake at the snapshot block: nobody could audit the trace.
    error NoStakedAuditors();
    /// @notice The layout given to finalize is not the one submitted.
    error LayoutMismatch(bytes32 traceId);
    /// @notice Reveals must be sorted strictly by (round, auditor); `index` breaks the order.
    error RevealsNotSorted(uint256 index);
    /// @notice Absences must be sorted strictly by (round, auditor); `index` breaks the order.
    error AbsencesNotSorted(uint256 index);
    /// @notice `auditor` is listed both as revealer and as absent in `round`.
    error DuplicateParticipant(uint8 round, address auditor);
    /// @notice Only rounds 0 and 1 exist.
    error StaleRound(uint8 round);
    /// @notice The signature does not recover to `auditor` under this chain and contract.
    error InvalidSignature(address auditor);
    /// @notice A reveal must carry at least one vote, an absence at least one segment.
    error EmptyVotes(address auditor);
    /// @notice Packed votes must be a whole number of 7-byte entries.
    error MalformedVotes(address auditor);
    /// @notice Votes (or absent segments) must be sorted strictly by segment, below the count.
    error InvalidSegment(address auditor, uint32 segment);
    /// @notice A vote value outside `Vote` or a confidence above 10000 bps.
    error InvalidVote(address auditor, uint32 segment);
    /// @notice `auditor` is not assigned to `segment` in `round`.
    error NotAssigned(address auditor, uint8 round, uint32 segment);
    /// @notice The participant list does not hash to the one stored at finalization.
    error ParticipantsMismatch(bytes32 traceId);
    /// @notice `auditor` took part in `round` of the finalized report.
    error AlreadyParticipant(uint8 round, address auditor);
    /// @notice The dispute window is still open until `closesAt`.
    error DisputeWindowOpen(uint64 closesAt);
    /// @notice The dispute window closed at `closedAt`.
    error DisputeWindowClosed(uint64 closedAt);
    /// @notice `auditor` was slashed for this already.
    error AlreadySlashed(bytes32 traceId, address auditor);
    /// @notice `auditor` proved its reveal and cannot be slashed as absent.
    error AuditorImmune(bytes32 traceId, address auditor);
    /// @notice `auditor`'s reveal was proven already.
    error AlreadyProven(bytes32 traceId, address auditor);
    /// @notice Two reveals of different auditors or rounds are no equivocation.
    error DifferentSlots();
    /// @notice The two reveals agree on every segment both vote on.
    error NoEquivocation();
    /// @notice Only the registry sends the ledger ETH outside submissions (slashed stake).
    error UnexpectedPayment(address sender);
    /// @notice Nothing to withdraw.
    error NothingToWithdraw();

    /// @notice Commits to a trace: Merkle root, target committee size, segment layout and fee.
    /// @param segmentLayout 3 bytes per segment: level depth (1 goal .. 5 operation), then the uint16
    /// big-endian index of the step holding the segment's first character (the last step for
    /// the goal). Exactly one goal, at segment 0.
    /// @return seed The sortition seed `keccak256(abi.encode(root, blockhash(block.number - 1)))`.
    function submitTrace(bytes32 traceId, bytes32 root, uint16 k, bytes calldata segmentLayout)
        external
        payable
        returns (bytes32 seed);

    /// @notice Recomputes and records the verdict of `traceId` from signed reveals and the
    /// absences of assigned auditors; pays rewards and slashes. Callable by anyone.
    function finalize(
        bytes32 traceId,
        bytes calldata segmentLayout,
        SignedReveal[] calldata reveals,
        Absence[] calldata absences
    ) external;

    /// @notice Slashes an auditor that signed two conflicting reveals for one trace and round;
    /// the slashed stake is credited to the caller.
    function slashEquivocation(bytes32 traceId, SignedReveal calldata a, SignedReveal calldata b)
        external;

    /// @notice During the dispute window, proves a signed reveal left out of the finalized
    /// report: its auditor becomes immune to `slashAbsent` and the verdict is contested.
    /// @param roundZero The auditor's signed round-0 reveal, read only for a round-1 `reveal`
    /// on a segment escalated to a doubled committee whose round-0 committee held the auditor:
    /// such a member stays in round 1 only if it voted VALID or INVALID there, and the Ledger
    /// keeps no round-0 votes.
    function proveReveal(
        bytes32 traceId,
        uint256[] calldata participants,
        SignedReveal calldata reveal,
        SignedReveal calldata roundZero
    ) external;

    /// @notice After the dispute window, slashes an auditor assigned to `segment` in `round`
    /// but missing from the finalized report; the slashed stake is credited to the caller.
    /// @param roundZero As in `proveReveal`: read only when `round` is 1, the segment escalated
    /// to a doubled committee and the auditor sat on its round-0 committee.
    function slashAbsent(
        bytes32 traceId,
        uint256[] calldata participants,
        address auditor,
        uint8 round,
        uint32 segment,
        SignedReveal calldata roundZero
    ) external;

    /// @notice Pays the caller's credited rewards and bounties out.
    function withdrawRewards() external;

    /// @notice Verdict, first error, one `SegmentVerdict` byte per segment, finalization time.
    function verdictOf(bytes32 traceId)
        external
        view
        returns (
            TraceVerdict verdict,
            uint32 firstError,
            bytes memory segmentVerdicts,
            uint64 finalizedAt
        );

    /// @notice The stored record of `traceId` (zero when unknown).
    function traceOf(bytes32 traceId) external view returns (TraceRecord memory);

    /// @notice Per-segment routing byte: bits 0-1 final verdict, 2-3 round-0 tier, 4 escalated,
    /// 5-6 round-1 tier, 7 doubled round-1 committee (all zero bytes until finalized).
    function segmentRecordsOf(bytes32 traceId) external view returns (bytes memory);

    /// @notice Wei `account` can withdraw.
    function rewardsOf(address account) external view returns (uint256);

    /// @notice The participant key of (`round`, `auditor`) used in participant lists.
    function participantKey(uint8 round, address auditor) external pure returns (uint256);

    /// @notice The EIP-712 domain separator of this deployment.
    function domainSeparator() external view returns (bytes32);

    /// @notice The EIP-712 digest `reveal.auditor` signs for `reveal` of `traceId`, exactly as
    /// `finalize` recovers it (lets clients and differential tests compare digests).
    function revealDigest(bytes32 traceId, SignedReveal calldata reveal)
        external
        view
        returns (bytes32);

    /// @notice The sortition predicate `protocol.sortition.is_assigned`: whether `auditor` with
    /// `stake` of its tier's `tierStake` is drawn for `segment` under `seed` and committee `k`.
    /// False for inputs outside the overflow-free ranges (stake < 2**96, tierStake < 2**128,
    /// 1 <= k <= MAX_COMMITTEE_SIZE, 0 < stake <= tierStake).
    function isAssigned(
        bytes32 seed,
        uint256 segment,
        address auditor,
        uint256 stake,
        uint256 tierStake,
        uint256 k
    ) external pure returns (bool);

    /// @notice Seconds after finalization during which omitted reveals can be proven.
    function disputeWindow() external view returns (uint256);
}
