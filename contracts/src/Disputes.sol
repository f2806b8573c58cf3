// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ILedger} from "./interfaces/ILedger.sol";
import {LedgerBase} from "./LedgerBase.sol";
import {Consensus} from "./libraries/Consensus.sol";

/// @title Disputes
/// @notice After-the-fact accountability: equivocation, reveals a report left out, and
/// assigned auditors a report left out. Every slash here is credited to the caller.
/// @dev A finalize report cannot prove it lists every assigned auditor (that would need a loop
/// over all auditors). During the dispute window an omitted auditor proves its reveal, which
/// contests the verdict; after it, anyone can slash an assigned auditor missing from the report.
abstract contract Disputes is LedgerBase {
    /// @inheritdoc ILedger
    function slashEquivocation(bytes32 traceId, SignedReveal calldata a, SignedReveal calldata b)
        external
        nonReentrant
    {
        TraceRecord storage trace = _traces[traceId];
        if (trace.submitter == address(0)) revert UnknownTrace(traceId);
        address auditor = a.auditor;
        uint8 round = a.round;
        if (auditor != b.auditor || round != b.round) revert DifferentSlots();
        if (round >= Consensus.MAX_ROUNDS) revert StaleRound(round);
        uint256 flag = _EQUIVOCATION_SLASHED << round;
        uint256 flags = _disputeFlags[traceId][auditor];
        if (flags & flag != 0) revert AlreadySlashed(traceId, auditor);
        uint256 count = trace.segmentCount;
        bytes32 hashA = _hashCheckedVotes(a, count);
        bytes32 hashB = _hashCheckedVotes(b, count);
        if (!_isConflicting(a.votes, b.votes)) revert NoEquivocation();
        _checkSignature(traceId, a, hashA);
        _checkSignature(traceId, b, hashB);
        _disputeFlags[traceId][auditor] = flags | flag;
        uint256 stake = _registry.stakeAt(auditor, trace.snapshotBlock);
        uint256 taken = _creditSlash(auditor, stake * EQUIVOCATION_SLASH_BPS / Consensus.BASIS_POINTS);
        emit EquivocationSlashed(traceId, auditor, round, msg.sender, taken);
        if (taken != 0) _registry.slash(auditor, taken);
    }

    /// @inheritdoc ILedger
    function proveReveal(
        bytes32 traceId,
        uint256[] calldata participants,
        SignedReveal calldata reveal,
        SignedReveal calldata roundZero
    ) external {
        TraceRecord storage trace = _traces[traceId];
        uint64 closesAt = _disputeClosesAt(traceId, trace);
        if (block.timestamp >= closesAt) revert DisputeWindowClosed(closesAt);
        address auditor = reveal.auditor;
        _checkAbsentFromReport(traceId, trace, participants, reveal.round, auditor);
        uint256 flags = _disputeFlags[traceId][auditor];
        if (flags & _IMMUNE != 0) revert AlreadyProven(traceId, auditor);
        _checkSignature(traceId, reveal, _hashAssignedVotes(traceId, trace, reveal, roundZero));
        _disputeFlags[traceId][auditor] = flags | _IMMUNE;
        emit RevealProven(traceId, auditor, reveal.round);
        _contest(traceId, trace);
    }

    /// @inheritdoc ILedger
    function slashAbsent(
        bytes32 traceId,
        uint256[] calldata participants,
        address auditor,
        uint8 round,
        uint32 segment,
        SignedReveal calldata roundZero
    ) external nonReentrant {
        TraceRecord storage trace = _traces[traceId];
        uint64 closesAt = _disputeClosesAt(traceId, trace);
        if (block.timestamp < closesAt) revert DisputeWindowOpen(closesAt);
        _checkAbsentFromReport(traceId, trace, participants, round, auditor);
        uint256 flags = _disputeFlags[traceId][auditor];
        if (flags & _IMMUNE != 0) revert AuditorImmune(traceId, auditor);
        if (flags & _ABSENCE_SLASHED != 0) revert AlreadySlashed(traceId, auditor);
        uint256 stake = _assignedStake(traceId, trace, auditor, round, segment, roundZero);
        _disputeFlags[traceId][auditor] = flags | _ABSENCE_SLASHED;
        _contest(traceId, trace);
        uint256 taken = _creditSlash(auditor, stake * Consensus.SLASH_BPS / Consensus.BASIS_POINTS);
        emit AbsenceSlashed(traceId, auditor, round, msg.sender, taken);
        if (taken != 0) _registry.slash(auditor, taken);
    }

    /// @dev The snapshot stake of `auditor`, reverting unless it was drawn for `segment` in
    /// `round` of the finalized trace and, in round 1 as a round-0 member of a doubled
    /// committee, `roundZero` shows it voting VALID or INVALID there.
    function _assignedStake(
        bytes32 traceId,
        TraceRecord storage trace,
        address auditor,
        uint8 round,
        uint32 segment,
        SignedReveal calldata roundZero
    ) private view returns (uint256) {
        Snapshot memory snap = _loadSnapshot(trace);
        if (segment >= snap.count) revert InvalidSegment(auditor, segment);
        Voter memory voter = _loadVoter(snap, auditor, round);
        uint256 route = uint8(_segmentRecords[traceId][segment]);
        _requireAssigned(snap, route, segment, voter);
        if (round == 1 && _needsRoundZeroVote(snap, route, segment, voter)) {
            _requireRoundZeroProof(traceId, snap.count, voter.auditor, roundZero, segment);
        }
        return voter.stake;
    }

    /// @dev Reverts with NotAssigned unless `roundZero` is `auditor`'s signed round-0 reveal
    /// with a VALID or INVALID vote on `segment` (which keeps a round-0 member in round 1).
    function _requireRoundZeroProof(
        bytes32 traceId,
        uint256 count,
        address auditor,
        SignedReveal calldata roundZero,
        uint256 segment
    ) private view {
        if (roundZero.auditor != auditor || roundZero.round != 0) {
            revert NotAssigned(auditor, 1, uint32(segment));
        }
        _checkSignature(traceId, roundZero, _hashCheckedVotes(roundZero, count));
        if (!_decidesOn(roundZero.votes, segment)) revert NotAssigned(auditor, 1, uint32(segment));
    }

    /// @dev End of the dispute window of a finalized trace; NotFinalized otherwise.
    function _disputeClosesAt(bytes32 traceId, TraceRecord storage trace)
        private
        view
        returns (uint64)
    {
        if (trace.verdict == TraceVerdict.NONE) revert NotFinalized(traceId);
        return uint64(trace.finalizedAt + _disputeWindow);
    }

    /// @dev Reverts unless `participants` is the finalized report's list and (round, auditor)
    /// is not in it (binary search: the list is sorted).
    function _checkAbsentFromReport(
        bytes32 traceId,
        TraceRecord storage trace,
        uint256[] calldata participants,
        uint8 round,
        address auditor
    ) private view {
        if (keccak256(abi.encodePacked(participants)) != trace.participantsHash) {
            revert ParticipantsMismatch(traceId);
        }
        if (round >= Consensus.MAX_ROUNDS) revert StaleRound(round);
        uint256 key = _participantKey(round, auditor);
        uint256 low = 0;
        uint256 high = participants.length;
        while (low < high) {
            uint256 mid = (low + high) / 2;
            uint256 value = participants[mid];
            if (value == key) revert AlreadyParticipant(round, auditor);
            if (value < key) low = mid + 1;
            else high = mid;
        }
    }

    /// @dev Flags the verdict as resting on an incomplete report (once).
    function _contest(bytes32 traceId, TraceRecord storage trace) private {
        if (trace.contested) return;
        trace.contested = true;
        emit VerdictContested(traceId);
    }

    /// @dev Credits the caller with what a slash of `amount` from `auditor` can take; the
    /// calling function performs the registry slash last.
    function _creditSlash(address auditor, uint256 amount) private returns (uint256 taken) {
        uint256 available = _registry.slashableOf(auditor);
        taken = amount < available ? amount : available;
        if (taken != 0) _rewards[msg.sender] += taken;
    }

    /// @dev EIP-712 hash of a reveal's votes after checking their order and values.
    function _hashCheckedVotes(SignedReveal calldata reveal, uint256 count)
        private
        pure
        returns (bytes32)
    {
        uint256 length = _voteCount(reveal.votes, reveal.auditor);
        bytes32[] memory hashes = new bytes32[](length);
        uint256 previous;
        for (uint256 i = 0; i < length; ++i) {
            (previous,, hashes[i]) =
                _readOrderedVote(reveal.votes, i, previous, count, reveal.auditor);
        }
        return _hashWords(hashes);
    }

    /// @dev Like `_hashCheckedVotes`, also requiring the auditor drawn for every segment.
    /// The round-0 test of a round-1 reveal is `_assignedStake`'s, with `roundZero`.
    function _hashAssignedVotes(
        bytes32 traceId,
        TraceRecord storage trace,
        SignedReveal calldata reveal,
        SignedReveal calldata roundZero
    ) private view returns (bytes32) {
        Snapshot memory snap = _loadSnapshot(trace);
        Voter memory voter = _loadVoter(snap, reveal.auditor, reveal.round);
        bytes memory routing = _segmentRecords[traceId];
        uint256 length = _voteCount(reveal.votes, voter.auditor);
        bytes32[] memory hashes = new bytes32[](length);
        uint256 previous;
        for (uint256 i = 0; i < length; ++i) {
            (previous,, hashes[i]) =
                _readOrderedVote(reveal.votes, i, previous, snap.count, voter.auditor);
            uint256 route = uint8(routing[previous]);
            _requireAssigned(snap, route, previous, voter);
            if (voter.round == 1 && _needsRoundZeroVote(snap, route, previous, voter)) {
                _requireRoundZeroProof(traceId, snap.count, voter.auditor, roundZero, previous);
            }
        }
        return _hashWords(hashes);
    }

    /// @dev Whether two segment-sorted packed vote vectors differ in vote or confidence on a
    /// segment both contain (the rationales commitment alone is no evidence). Both were
    /// checked to be whole 7-byte entries.
    function _isConflicting(bytes calldata a, bytes calldata b) private pure returns (bool) {
        uint256 lengthA = a.length / _VOTE_BYTES;
        uint256 lengthB = b.length / _VOTE_BYTES;
        uint256 i = 0;
        uint256 j = 0;
        while (i < lengthA && j < lengthB) {
            (uint256 segmentA, uint256 voteA, uint256 confidenceA) = _unpackVote(a, i);
            (uint256 segmentB, uint256 voteB, uint256 confidenceB) = _unpackVote(b, j);
            if (segmentA < segmentB) {
                ++i;
            } else if (segmentB < segmentA) {
                ++j;
            } else {
                if (voteA != voteB || confidenceA != confidenceB) return true;
                ++i;
                ++j;
            }
        }
        return false;
    }
}
