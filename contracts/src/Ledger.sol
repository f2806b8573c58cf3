// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ILedger} from "./interfaces/ILedger.sol";
import {IRegistry} from "./interfaces/IRegistry.sol";
import {LedgerBase} from "./LedgerBase.sol";
import {Disputes} from "./Disputes.sol";
import {Consensus} from "./libraries/Consensus.sol";

/// @title Ledger
/// @notice Trace submissions and their trustless finalization: every signature, assignment,
/// tally, escalation, verdict, reward and slash is recomputed here from the signed reveals.
/// @dev Mirrors `protocol.consensus.compute_audit_outcome` and
/// `protocol.economics.compute_payouts`. Tallies live in memory, four words per segment and
/// round: ABSTAIN, VALID, INVALID (indexed by the vote value) and absent stake.
contract Ledger is Disputes {
    uint256 private constant _SLOTS = 4;
    uint256 private constant _ABSENT = 3;
    uint256 private constant _BAD_SEGMENT = 1;
    uint256 private constant _BAD_VOTE = 2;
    uint256 private constant _NOT_ASSIGNED = 3;

    /// @dev Everything finalize computes, in memory.
    struct Context {
        bytes32 traceId;
        Snapshot snap;
        uint256 count;
        uint256[] route;
        uint256[] sums0;
        uint256[] sums1;
        uint256[] revealStakes;
        uint256[] absenceStakes;
    }

    /// @dev One auditor's standing over a trace (protocol.economics._Standing).
    struct Party {
        address auditor;
        uint256 stake;
        uint256 weight;
        uint256 strikes;
    }

    /// @param registry_ The auditor registry (bind it with `Registry.setLedger` afterwards).
    /// @param minFee_ Smallest fee in wei per trace.
    /// @param disputeWindow_ Seconds after finalization for proving omitted reveals.
    constructor(IRegistry registry_, uint256 minFee_, uint256 disputeWindow_)
        LedgerBase(registry_, minFee_, disputeWindow_)
    {}

    /// @inheritdoc ILedger
    function submitTrace(bytes32 traceId, bytes32 root, uint16 k, bytes calldata segmentLayout)
        external
        payable
        returns (bytes32 seed)
    {
        TraceRecord storage trace = _traces[traceId];
        if (trace.submitter != address(0)) revert TraceAlreadySubmitted(traceId);
        if (msg.value < _minFee) revert FeeTooLow(msg.value, _minFee);
        if (msg.value > type(uint128).max) revert FeeTooHigh(msg.value);
        if (k == 0) revert InvalidCommitteeSize(k);
        uint256 layoutError = Consensus.findLayoutError(segmentLayout);
        if (layoutError != type(uint256).max) revert InvalidLayout(layoutError);
        uint256 snapshot = block.number - 1;
        uint256[3] memory stakes = _registry.tierStakesAt(snapshot);
        if (stakes[0] == 0 && stakes[1] == 0 && stakes[2] == 0) revert NoStakedAuditors();
        seed = keccak256(abi.encode(root, blockhash(snapshot)));
        trace.submitter = msg.sender;
        trace.snapshotBlock = uint48(snapshot);
        trace.k = k;
        trace.segmentCount = uint16(segmentLayout.length / Consensus.LAYOUT_ENTRY_BYTES);
        trace.seed = seed;
        trace.layoutHash = keccak256(segmentLayout);
        trace.fee = uint128(msg.value);
        trace.firstError = uint32(_NO_ERROR);
        // Prepay the verdict's storage: finalize, which anyone may run, then rewrites warm
        // non-zero slots (see TraceRecord.participantsHash and segmentRecordsOf).
        trace.participantsHash = _UNSET;
        _segmentRecords[traceId] = new bytes(trace.segmentCount);
        emit TraceSubmitted(traceId, msg.sender, root, seed, k, segmentLayout);
    }

    /// @inheritdoc ILedger
    /// @dev Reveals and absences are each sorted strictly by (round, auditor), round 0 first.
    /// Round 0 covers every segment at its routed tier with committee k; round 1 only the
    /// segments left UNRESOLVED, at their escalated tier and committee size.
    function finalize(
        bytes32 traceId,
        bytes calldata segmentLayout,
        SignedReveal[] calldata reveals,
        Absence[] calldata absences
    ) external nonReentrant {
        TraceRecord storage trace = _traces[traceId];
        Context memory ctx = _openContext(traceId, trace, segmentLayout);
        ctx.revealStakes = new uint256[](reveals.length);
        ctx.absenceStakes = new uint256[](absences.length);

        (uint256 r, uint256 a) = _tallyRound(ctx, 0, reveals, absences, 0, 0);
        _escalate(ctx);
        (r, a) = _tallyRound(ctx, 1, reveals, absences, r, a);
        if (r < reveals.length) {
            if (reveals[r].round < Consensus.MAX_ROUNDS) revert RevealsNotSorted(r);
            revert StaleRound(reveals[r].round);
        }
        if (a < absences.length) {
            if (absences[a].round < Consensus.MAX_ROUNDS) revert AbsencesNotSorted(a);
            revert StaleRound(absences[a].round);
        }
        (TraceVerdict verdict, uint32 firstError) = _decide(ctx, segmentLayout);
        (bytes32 participantsHash, Party[] memory parties) = _collect(ctx, reveals, absences);
        _record(ctx, trace, verdict, firstError, participantsHash);
        _settle(traceId, trace.fee, parties);
    }

    function _openContext(bytes32 traceId, TraceRecord storage trace, bytes calldata segmentLayout)
        private
        view
        returns (Context memory ctx)
    {
        if (trace.submitter == address(0)) revert UnknownTrace(traceId);
        if (trace.verdict != TraceVerdict.NONE) revert AlreadyFinalized(traceId);
        if (keccak256(segmentLayout) != trace.layoutHash) revert LayoutMismatch(traceId);
        ctx.traceId = traceId;
        ctx.snap = _loadSnapshot(trace);
        ctx.count = ctx.snap.count;
        ctx.route = new uint256[](ctx.count);
        // Route once per depth (1 goal .. 5 operation), then look each segment up.
        uint256[6] memory routeOfDepth;
        for (uint256 depth = Consensus.DEPTH_GOAL; depth <= Consensus.DEPTH_OPERATION; ++depth) {
            routeOfDepth[depth] = Consensus.routeTier(depth, ctx.snap.tierStakes) << _TIER0_SHIFT;
        }
        uint256[] memory route = ctx.route;
        uint256 count = ctx.count;
        assembly ("memory-safe") {
            for { let segment := 0 } lt(segment, count) { segment := add(segment, 1) } {
                // Depths were checked to lie in [1, 5] by submitTrace.
                let depth := byte(0, calldataload(add(segmentLayout.offset, mul(segment, 3))))
                mstore(
                    add(add(route, 0x20), shl(5, segment)),
                    mload(add(routeOfDepth, shl(5, depth)))
                )
            }
        }
        ctx.sums0 = new uint256[](ctx.count * _SLOTS);
    }

    /// @dev Tallies the reveals and absences of `round` starting at indexes `r` and `a`;
    /// returns the indexes of the first entries of a later round.
    function _tallyRound(
        Context memory ctx,
        uint256 round,
        SignedReveal[] calldata reveals,
        Absence[] calldata absences,
        uint256 r,
        uint256 a
    ) private view returns (uint256, uint256) {
        uint256[] memory sums = round == 0 ? ctx.sums0 : ctx.sums1;
        // Round 1 starts where round 0's reveals end: they decide who of round 0 stays.
        uint256 roundZeroEnd = round == 0 ? 0 : r;
        for (; r < reveals.length && reveals[r].round == round; ++r) {
            ctx.revealStakes[r] = _tallyReveal(ctx, sums, reveals, r, roundZeroEnd);
        }
        for (; a < absences.length && absences[a].round == round; ++a) {
            ctx.absenceStakes[a] =
                _tallyAbsence(ctx, sums, absences[a], reveals, roundZeroEnd);
        }
        return (r, a);
    }

    /// @dev Checks one reveal (values, order, assignment, signature) and adds its stake to the
    /// tallies; returns the auditor's snapshot stake.
    function _tallyReveal(
        Context memory ctx,
        uint256[] memory sums,
        SignedReveal[] calldata reveals,
        uint256 index,
        uint256 roundZeroEnd
    ) private view returns (uint256) {
        SignedReveal calldata reveal = reveals[index];
        Voter memory voter = _loadVoter(ctx.snap, reveal.auditor, reveal.round);
        _checkSignature(ctx.traceId, reveal, _tallyVotes(ctx, sums, voter, reveal.votes));
        if (voter.round == 1) {
            uint256 count = reveal.votes.length / _VOTE_BYTES;
            for (uint256 i = 0; i < count; ++i) {
                (uint256 segment,,) = _unpackVote(reveal.votes, i);
                _requireRoundZeroVote(ctx, reveals, roundZeroEnd, voter, segment);
            }
        }
        return voter.stake;
    }

    /// @dev Reverts with NotAssigned where round-1 `voter`, on a segment escalated to a doubled
    /// committee, sat on its round-0 committee without voting VALID or INVALID on it in round
    /// 0's reveals, `reveals[:roundZeroEnd]` (sorted by auditor): such a member left round 1.
    function _requireRoundZeroVote(
        Context memory ctx,
        SignedReveal[] calldata reveals,
        uint256 roundZeroEnd,
        Voter memory voter,
        uint256 segment
    ) private pure {
        if (!_needsRoundZeroVote(ctx.snap, ctx.route[segment], segment, voter)) return;
        uint256 low = 0;
        uint256 high = roundZeroEnd;
        while (low < high) {
            uint256 mid = (low + high) / 2;
            address auditor = reveals[mid].auditor;
            if (auditor == voter.auditor) {
                if (_decidesOn(reveals[mid].votes, segment)) return;
                break;
            }
            if (auditor < voter.auditor) low = mid + 1;
            else high = mid;
        }
        revert NotAssigned(voter.auditor, 1, uint32(segment));
    }

    /// @dev Adds `voter`'s stake to the tally slot of each of its votes after checking them
    /// (order, values, assignment); returns the EIP-712 hash of the vote vector.
    /// The loop is assembly because it runs once per vote: it reads each packed 7-byte vote
    /// straight from calldata and range-checks it (segment below the count, vote <= 2,
    /// confidence <= 10000) before hashing the typed `Vote` struct; the assignment test is
    /// `Consensus.isWithinBound` with the round's tier and bound.
    function _tallyVotes(
        Context memory ctx,
        uint256[] memory sums,
        Voter memory voter,
        bytes calldata votes
    ) private pure returns (bytes32) {
        bytes32[] memory hashes = new bytes32[](_voteCount(votes, voter.auditor));
        (uint256 failure, uint256 segment) =
            _tallyLoop(ctx.route, ctx.snap, sums, voter, votes, hashes);
        if (failure == _BAD_SEGMENT) revert InvalidSegment(voter.auditor, uint32(segment));
        if (failure == _BAD_VOTE) revert InvalidVote(voter.auditor, uint32(segment));
        if (failure == _NOT_ASSIGNED) {
            revert NotAssigned(voter.auditor, uint8(voter.round), uint32(segment));
        }
        return _hashWords(hashes);
    }

    /// @dev The per-vote loop of `_tallyVotes` over `hashes.length` packed votes; returns a
    /// failure code and its segment. Memory offsets: Voter {auditor, round, stake, tierMask,
    /// bound, doubledBound}, Snapshot {seed, k, blockNumber, count, tierStakes*};
    /// `route.length` is the count.
    function _tallyLoop(
        uint256[] memory route,
        Snapshot memory snap,
        uint256[] memory sums,
        Voter memory voter,
        bytes calldata votes,
        bytes32[] memory hashes
    ) private pure returns (uint256 failure, uint256 segment) {
        assembly ("memory-safe") {
            for { let i := 0 } lt(i, mload(hashes)) { i := add(i, 1) } {
                {
                    // One load holds the whole entry; the bytes after it are shifted out.
                    let word := calldataload(add(votes.offset, mul(i, 7)))
                    let previous := segment
                    segment := shr(224, word)
                    if or(
                        iszero(lt(segment, mload(route))),
                        and(gt(i, 0), iszero(gt(segment, previous)))
                    ) {
                        failure := 1 // _BAD_SEGMENT
                        break
                    }
                    let vote := and(shr(216, word), 0xff)
                    let confidence := and(shr(200, word), 0xffff)
                    if or(gt(vote, 2), gt(confidence, 10000)) {
                        failure := 2 // _BAD_VOTE
                        break
                    }
                    let ptr := mload(0x40)
                    mstore(ptr, _VOTE_TYPEHASH)
                    mstore(add(ptr, 0x20), segment)
                    mstore(add(ptr, 0x40), vote)
                    mstore(add(ptr, 0x60), confidence)
                    mstore(add(add(hashes, 0x20), shl(5, i)), keccak256(ptr, 0x80))
                    let slot := add(add(sums, 0x20), shl(5, add(shl(2, segment), vote)))
                    mstore(slot, add(mload(slot), mload(add(voter, 0x40))))
                }
                let routing := mload(add(add(route, 0x20), shl(5, segment)))
                let tier := and(shr(2, routing), 3)
                let bound := mload(add(voter, 0x80))
                if mload(add(voter, 0x20)) {
                    if iszero(and(routing, 0x10)) {
                        failure := 3 // _NOT_ASSIGNED: round 1 on a settled segment
                        break
                    }
                    tier := and(shr(5, routing), 3)
                    if and(routing, 0x80) { bound := mload(add(voter, 0xa0)) }
                }
                let tierStake := mload(add(mload(add(snap, 0x80)), shl(5, tier)))
                mstore(mload(0x40), mload(snap))
                mstore(add(mload(0x40), 0x20), segment)
                mstore(add(mload(0x40), 0x40), mload(voter))
                // Consensus.isWithinBound; the registry keeps stake < 2**96 and
                // tierStake < 2**128, so the product cannot wrap.
                if or(
                    or(iszero(and(mload(add(voter, 0x60)), shl(tier, 1))), iszero(bound)),
                    or(
                        gt(mload(add(voter, 0x40)), tierStake),
                        iszero(lt(mul(shr(128, keccak256(mload(0x40), 0x60)), tierStake), bound))
                    )
                ) {
                    failure := 3 // _NOT_ASSIGNED
                    break
                }
            }
        }
    }

    /// @dev Checks one absence (order, assignment) and adds its stake to the absent tallies.
    function _tallyAbsence(
        Context memory ctx,
        uint256[] memory sums,
        Absence calldata absence,
        SignedReveal[] calldata reveals,
        uint256 roundZeroEnd
    ) private view returns (uint256) {
        Voter memory voter = _loadVoter(ctx.snap, absence.auditor, absence.round);
        uint256 length = absence.segments.length;
        if (length == 0) revert EmptyVotes(voter.auditor);
        uint256 previous;
        for (uint256 i = 0; i < length; ++i) {
            uint256 segment = absence.segments[i];
            if (segment >= ctx.count || (i > 0 && segment <= previous)) {
                revert InvalidSegment(voter.auditor, uint32(segment));
            }
            previous = segment;
            _requireAssigned(ctx.snap, ctx.route[segment], segment, voter);
            if (voter.round == 1) {
                _requireRoundZeroVote(ctx, reveals, roundZeroEnd, voter, segment);
            }
            sums[segment * _SLOTS + _ABSENT] += voter.stake;
        }
        return voter.stake;
    }

    /// @dev Round-0 verdicts; UNRESOLVED segments get their round-1 tier and committee.
    function _escalate(Context memory ctx) private pure {
        bool escalated = false;
        uint256[] memory sums = ctx.sums0;
        uint256[] memory route = ctx.route;
        uint256 count = ctx.count;
        for (uint256 segment = 0; segment < count; ++segment) {
            (uint256 abstain, uint256 valid, uint256 invalid, uint256 absent) =
                _loadTally(sums, segment);
            uint256 verdict = Consensus.segmentVerdict(abstain, valid, invalid, absent);
            if (verdict != Consensus.UNRESOLVED) {
                _orRoute(route, segment, verdict);
                continue;
            }
            _routeEscalation(ctx, segment, abstain, abstain + valid + invalid);
            escalated = true;
        }
        ctx.sums1 = new uint256[](escalated ? count * _SLOTS : 0);
    }

    /// @dev Records the round-1 tier and committee of an UNRESOLVED segment.
    function _routeEscalation(
        Context memory ctx,
        uint256 segment,
        uint256 abstain,
        uint256 revealed
    ) private pure {
        uint256 tier0 = (_loadRoute(ctx.route, segment) >> _TIER0_SHIFT) & _TIER_MASK;
        (uint256 tier1, bool doubled) =
            Consensus.escalate(abstain, revealed, tier0, ctx.snap.tierStakes);
        uint256 bits = _ESCALATED | (tier1 << _TIER1_SHIFT);
        if (doubled) bits |= _DOUBLED;
        _orRoute(ctx.route, segment, bits);
    }

    /// @dev The four tally words of `segment` (unchecked: callers stay below the count).
    function _loadTally(uint256[] memory sums, uint256 segment)
        private
        pure
        returns (uint256 abstain, uint256 valid, uint256 invalid, uint256 absent)
    {
        uint256 base;
        assembly ("memory-safe") {
            base := add(add(sums, 0x20), shl(7, segment))
            abstain := mload(base)
            valid := mload(add(base, 0x20))
            absent := mload(add(base, 0x60))
        }
        invalid = _word(base + 0x40);
    }

    function _word(uint256 pointer) private pure returns (uint256 value) {
        assembly ("memory-safe") {
            value := mload(pointer)
        }
    }

    function _loadRoute(uint256[] memory route, uint256 segment)
        private
        pure
        returns (uint256 value)
    {
        assembly ("memory-safe") {
            value := mload(add(add(route, 0x20), shl(5, segment)))
        }
    }

    function _orRoute(uint256[] memory route, uint256 segment, uint256 bits) private pure {
        assembly ("memory-safe") {
            let slot := add(add(route, 0x20), shl(5, segment))
            mstore(slot, or(mload(slot), bits))
        }
    }

    /// @dev Round 0's ABSTAIN stake on a segment escalated to a doubled committee, which counts
    /// in round 1's tally: the round-0 members that abstained are not asked again (a copycat
    /// would copy round 0's reveals) but their abstentions stand, as a brake on a bloc that
    /// votes where honest judges cannot (protocol.consensus._carry_round_zero_abstentions).
    function _carriedAbstentions(Context memory ctx, uint256 segment)
        private
        pure
        returns (uint256 abstain)
    {
        if (_loadRoute(ctx.route, segment) & _DOUBLED == 0) return 0;
        (abstain,,,) = _loadTally(ctx.sums0, segment);
    }

    /// @dev Round-1 verdicts of escalated segments, then the trace verdict and first error.
    function _decide(Context memory ctx, bytes calldata segmentLayout)
        private
        pure
        returns (TraceVerdict, uint32)
    {
        bool allValid = true;
        bool goalInvalid = false;
        uint256 firstError = _NO_ERROR;
        uint256[] memory route = ctx.route;
        for (uint256 segment = 0; segment < ctx.count; ++segment) {
            if (_loadRoute(route, segment) & _ESCALATED != 0) {
                (uint256 abstain, uint256 valid, uint256 invalid, uint256 absent) =
                    _loadTally(ctx.sums1, segment);
                abstain += _carriedAbstentions(ctx, segment);
                _orRoute(
                    route, segment, Consensus.segmentVerdict(abstain, valid, invalid, absent)
                );
            }
            uint256 verdict = _loadRoute(route, segment) & _VERDICT_MASK;
            if (verdict != Consensus.VALID) allValid = false;
            if (verdict != Consensus.INVALID) continue;
            if (segment == 0) {
                goalInvalid = true;
            } else {
                uint256 step = Consensus.stepAt(segmentLayout, segment);
                if (step < firstError) firstError = step;
            }
        }
        if (firstError != _NO_ERROR) return (TraceVerdict.FLAWED, uint32(firstError));
        if (goalInvalid) return (TraceVerdict.FLAWED, uint32(Consensus.stepAt(segmentLayout, 0)));
        if (allValid) return (TraceVerdict.SOUND, uint32(_NO_ERROR));
        return (TraceVerdict.INCONCLUSIVE, uint32(_NO_ERROR));
    }

    /// @dev Merges reveals and absences into the participant list (checking order, rounds and
    /// that nobody is both), scores each entry, and sums each auditor's standing over rounds.
    function _collect(
        Context memory ctx,
        SignedReveal[] calldata reveals,
        Absence[] calldata absences
    ) private pure returns (bytes32 participantsHash, Party[] memory parties) {
        uint256[] memory keys = new uint256[](reveals.length + absences.length);
        Party[] memory entries = new Party[](keys.length);
        uint256 r = 0;
        uint256 a = 0;
        for (uint256 n = 0; n < keys.length; ++n) {
            bool isReveal;
            (isReveal, keys[n], entries[n]) = _next(ctx, reveals, absences, r, a);
            if (n > 0 && keys[n] <= keys[n - 1]) {
                if (isReveal) revert RevealsNotSorted(r);
                revert AbsencesNotSorted(a);
            }
            if (isReveal) ++r;
            else ++a;
        }
        participantsHash = keccak256(abi.encodePacked(keys));
        parties = _mergeRounds(entries, _roundOneStart(keys));
    }

    /// @dev The next participant in key order (the smaller key of the next reveal and the next
    /// absence), scored.
    function _next(
        Context memory ctx,
        SignedReveal[] calldata reveals,
        Absence[] calldata absences,
        uint256 r,
        uint256 a
    ) private pure returns (bool isReveal, uint256 key, Party memory entry) {
        key = r < reveals.length
            ? _participantKey(reveals[r].round, reveals[r].auditor)
            : type(uint256).max;
        uint256 absenceKey = a < absences.length
            ? _participantKey(absences[a].round, absences[a].auditor)
            : type(uint256).max;
        if (key == absenceKey) revert DuplicateParticipant(absences[a].round, absences[a].auditor);
        isReveal = key < absenceKey;
        if (isReveal) {
            entry = _scoreReveal(ctx, reveals[r], r);
        } else {
            key = absenceKey;
            entry = _scoreAbsence(ctx, absences[a], a);
        }
    }

    /// @dev Index of the first round-1 key of a sorted participant list (its length if none).
    function _roundOneStart(uint256[] memory keys) private pure returns (uint256 index) {
        while (index < keys.length && keys[index] >> 160 == 0) ++index;
    }

    /// @dev Weight (stake per vote equal to the final verdict) and strikes (opposite votes) of
    /// reveal `index`; its votes were validated by the tally, so no bounds checks are needed.
    function _scoreReveal(Context memory ctx, SignedReveal calldata reveal, uint256 index)
        private
        pure
        returns (Party memory party)
    {
        uint256 stake = ctx.revealStakes[index];
        party.auditor = reveal.auditor;
        party.stake = stake;
        bytes calldata votes = reveal.votes;
        uint256[] memory route = ctx.route;
        uint256 weight = 0;
        uint256 strikes = 0;
        assembly ("memory-safe") {
            for { let i := 0 } lt(i, div(votes.length, 7)) { i := add(i, 1) } {
                let word := calldataload(add(votes.offset, mul(i, 7)))
                let vote := and(shr(216, word), 0xff)
                let verdict := and(mload(add(add(route, 0x20), shl(5, shr(224, word)))), 3)
                if verdict {
                    switch eq(vote, verdict)
                    case 1 { weight := add(weight, stake) }
                    default { if vote { strikes := add(strikes, 1) } }
                }
            }
        }
        party.weight = weight;
        party.strikes = strikes;
    }

    function _scoreAbsence(Context memory ctx, Absence calldata absence, uint256 index)
        private
        pure
        returns (Party memory party)
    {
        party.auditor = absence.auditor;
        party.stake = ctx.absenceStakes[index];
        uint256 length = absence.segments.length;
        for (uint256 i = 0; i < length; ++i) {
            if (ctx.route[absence.segments[i]] & _VERDICT_MASK != Consensus.UNRESOLVED) {
                ++party.strikes;
            }
        }
    }

    /// @dev `entries[:split]` (round 0) and `entries[split:]` (round 1) are each sorted by
    /// auditor; merges them so every auditor appears once.
    function _mergeRounds(Party[] memory entries, uint256 split)
        private
        pure
        returns (Party[] memory parties)
    {
        parties = new Party[](entries.length);
        uint256 i = 0;
        uint256 j = split;
        uint256 n = 0;
        while (i < split || j < entries.length) {
            if (j == entries.length || (i < split && entries[i].auditor < entries[j].auditor)) {
                parties[n++] = entries[i++];
            } else if (i == split || entries[j].auditor < entries[i].auditor) {
                parties[n++] = entries[j++];
            } else {
                Party memory party = entries[i++];
                party.weight += entries[j].weight;
                party.strikes += entries[j++].strikes;
                parties[n++] = party;
            }
        }
        assembly ("memory-safe") {
            mstore(parties, n)
        }
    }

    /// @dev Stores the verdict, the routing bytes and the participants hash; emits the verdict.
    function _record(
        Context memory ctx,
        TraceRecord storage trace,
        TraceVerdict verdict,
        uint32 firstError,
        bytes32 participantsHash
    ) private {
        bytes memory routing = new bytes(ctx.count);
        bytes memory verdicts = new bytes(ctx.count);
        for (uint256 segment = 0; segment < ctx.count; ++segment) {
            uint256 route = ctx.route[segment];
            routing[segment] = bytes1(uint8(route));
            verdicts[segment] = bytes1(uint8(route & _VERDICT_MASK));
        }
        trace.verdict = verdict;
        trace.finalizedAt = uint64(block.timestamp);
        trace.firstError = firstError;
        trace.participantsHash = participantsHash;
        _segmentRecords[ctx.traceId] = routing;
        emit VerdictFinalized(ctx.traceId, verdict, firstError, verdicts);
    }

    /// @dev Slashes wrong and absent auditors, then shares fee plus slashes among coherent
    /// ones pro rata weight (protocol.economics.compute_payouts). Rewards are credited before
    /// any registry call; dust stays with the ledger.
    function _settle(bytes32 traceId, uint256 fee, Party[] memory parties) private {
        uint256 count = parties.length;
        uint256[] memory taken = new uint256[](count);
        uint256 pool = fee;
        uint256 totalWeight = 0;
        for (uint256 i = 0; i < count; ++i) {
            Party memory party = parties[i];
            totalWeight += party.weight;
            if (party.strikes == 0) continue;
            uint256 slash = party.strikes * party.stake * Consensus.SLASH_BPS
                / Consensus.BASIS_POINTS;
            if (slash > party.stake) slash = party.stake;
            if (slash == 0) continue;
            uint256 available = _registry.slashableOf(party.auditor);
            taken[i] = slash < available ? slash : available;
            pool += taken[i];
        }
        for (uint256 i = 0; totalWeight != 0 && i < count; ++i) {
            uint256 reward = pool * parties[i].weight / totalWeight;
            if (reward == 0) continue;
            _rewards[parties[i].auditor] += reward;
            emit RewardCredited(traceId, parties[i].auditor, reward);
        }
        for (uint256 i = 0; i < count; ++i) {
            if (taken[i] == 0) continue;
            emit AuditorPenalized(traceId, parties[i].auditor, taken[i]);
            _registry.slash(parties[i].auditor, taken[i]);
        }
    }
}
