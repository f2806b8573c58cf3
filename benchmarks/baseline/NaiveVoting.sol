// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title NaiveVoting
/// @notice The gas baseline: every vote committed and revealed in its own transaction and
/// tallied in storage, as UMA's DVM does, then each voter claims its reward in a transaction
/// of its own. It mirrors the Ledger's rules (stake-weighted 2/3 supermajority, 1/2 quorum)
/// so the comparison is about where the work happens, not about what is decided.
contract NaiveVoting {
    /// @notice A voter's commit did not match its reveal, or it revealed twice.
    error BadReveal(address voter, uint256 segment);
    /// @notice The caller has no stake or the trace is unknown.
    error NotAllowed();

    struct SegmentTally {
        uint128 valid;
        uint128 invalid;
        uint128 abstain;
        uint128 assigned;
    }

    /// @notice A vote was committed.
    event VoteCommitted(bytes32 indexed traceId, uint256 indexed segment, address voter);
    /// @notice A vote was revealed and tallied.
    event VoteRevealed(bytes32 indexed traceId, uint256 indexed segment, address voter, uint8 vote);
    /// @notice A trace's segments were decided.
    event TraceDecided(bytes32 indexed traceId, uint256 validSegments);

    mapping(address voter => uint256 stake) private _stake;
    mapping(bytes32 traceId => uint256 count) private _segments;
    mapping(bytes32 traceId => uint256 fee) private _fees;
    mapping(bytes32 traceId => mapping(uint256 segment => SegmentTally)) private _tallies;
    mapping(bytes32 traceId => mapping(uint256 segment => mapping(address voter => bytes32)))
        private _commits;
    mapping(bytes32 traceId => mapping(uint256 segment => uint8 verdict)) private _verdicts;
    mapping(bytes32 traceId => mapping(address voter => uint256 weight)) private _weights;
    mapping(bytes32 traceId => uint256 total) private _totalWeight;

    /// @notice Stake ETH to vote.
    function register() external payable {
        _stake[msg.sender] += msg.value;
    }

    /// @notice Open a trace of `segments` segments, each judged by `assignedStake` of stake.
    function submit(bytes32 traceId, uint256 segments, uint128 assignedStake) external payable {
        _segments[traceId] = segments;
        _fees[traceId] = msg.value;
        for (uint256 s = 0; s < segments; ++s) {
            _tallies[traceId][s].assigned = assignedStake;
        }
    }

    /// @notice Commit one vote: keccak256(abi.encode(vote, salt, voter)).
    function commitVote(bytes32 traceId, uint256 segment, bytes32 commitment) external {
        if (_stake[msg.sender] == 0 || segment >= _segments[traceId]) revert NotAllowed();
        _commits[traceId][segment][msg.sender] = commitment;
        emit VoteCommitted(traceId, segment, msg.sender);
    }

    /// @notice Reveal one vote and add its stake to the segment's tally.
    function revealVote(bytes32 traceId, uint256 segment, uint8 vote, bytes32 salt) external {
        bytes32 expected = keccak256(abi.encode(vote, salt, msg.sender));
        if (_commits[traceId][segment][msg.sender] != expected) revert BadReveal(msg.sender, segment);
        delete _commits[traceId][segment][msg.sender];
        uint128 stake = uint128(_stake[msg.sender]);
        SegmentTally storage tally = _tallies[traceId][segment];
        if (vote == 1) tally.valid += stake;
        else if (vote == 2) tally.invalid += stake;
        else tally.abstain += stake;
        _weights[traceId][msg.sender] += stake;
        _totalWeight[traceId] += stake;
        emit VoteRevealed(traceId, segment, msg.sender, vote);
    }

    /// @notice Decide every segment from the stored tallies.
    function decide(bytes32 traceId) external {
        uint256 count = _segments[traceId];
        uint256 validSegments;
        for (uint256 s = 0; s < count; ++s) {
            SegmentTally memory t = _tallies[traceId][s];
            uint256 revealed = uint256(t.valid) + t.invalid + t.abstain;
            uint8 verdict;
            if (revealed > 0 && revealed * 2 >= t.assigned) {
                if (uint256(t.valid) * 3 >= revealed * 2) verdict = 1;
                else if (uint256(t.invalid) * 3 >= revealed * 2) verdict = 2;
            }
            _verdicts[traceId][s] = verdict;
            if (verdict == 1) ++validSegments;
        }
        emit TraceDecided(traceId, validSegments);
    }

    /// @notice Claim this voter's share of the trace's fee (one transaction per voter).
    function claimReward(bytes32 traceId) external {
        uint256 weight = _weights[traceId][msg.sender];
        if (weight == 0) revert NotAllowed();
        delete _weights[traceId][msg.sender];
        uint256 amount = (_fees[traceId] * weight) / _totalWeight[traceId];
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert NotAllowed();
    }
}
