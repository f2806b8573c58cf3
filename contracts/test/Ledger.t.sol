// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Fixture} from "./utils/Fixture.sol";
import {ILedger} from "../src/interfaces/ILedger.sol";
import {Ledger} from "../src/Ledger.sol";
import {Registry} from "../src/Registry.sol";

/// @notice submitTrace and finalize: verdicts, first error, escalation, payouts and every
/// error of the finalize path. Five LLM auditors (1..5) of equal stake with k = 5 are each
/// drawn for every LLM segment (k * stake >= tierStake), so committees are known.
contract LedgerTest is Fixture {
    bytes32 internal constant TRACE = keccak256("trace");

    function setUp() public {
        _deploy();
        _registerMany(1, 5, LLM);
    }

    /// @dev Round-0 reveals of auditors 1..5, each voting `values[a]` on every segment.
    function _unanimous(bytes32 traceId, uint32 count, uint8 value)
        internal
        view
        returns (ILedger.SignedReveal[] memory reveals)
    {
        reveals = new ILedger.SignedReveal[](5);
        for (uint256 a = 0; a < 5; ++a) {
            reveals[a] = _reveal(a + 1, traceId, 0, _votesRange(0, count, value));
        }
        _sortReveals(reveals);
    }

    function _verdict(bytes32 traceId)
        internal
        view
        returns (ILedger.TraceVerdict verdict, uint32 firstError, bytes memory segments)
    {
        (verdict, firstError, segments,) = ledger.verdictOf(traceId);
    }

    // --- submitTrace -------------------------------------------------------------------------

    function testSubmitStoresTheTraceAndSeed() public {
        bytes memory segmentLayout = _stepsLayout(3);
        vm.roll(block.number + 1);
        bytes32 root = keccak256("root");
        bytes32 expectedSeed = keccak256(abi.encode(root, blockhash(block.number - 1)));
        vm.expectEmit();
        emit ILedger.TraceSubmitted(TRACE, address(this), root, expectedSeed, 5, segmentLayout);
        bytes32 seed = ledger.submitTrace{value: FEE}(TRACE, root, 5, segmentLayout);
        vm.assertEq(seed, expectedSeed, "seed");
        ILedger.TraceRecord memory record = ledger.traceOf(TRACE);
        vm.assertEq(record.submitter, address(this), "submitter");
        vm.assertEq(record.seed, seed, "seed stored");
        vm.assertEq(uint256(record.k), 5, "k");
        vm.assertEq(uint256(record.segmentCount), 4, "count");
        vm.assertEq(uint256(record.snapshotBlock), block.number - 1, "snapshot");
        vm.assertEq(uint256(record.fee), FEE, "fee");
        vm.assertEq(record.layoutHash, keccak256(segmentLayout), "layout hash");
        vm.assertEq(uint256(record.verdict), 0, "not finalized");
        vm.assertEq(address(ledger).balance, FEE, "fee held");
    }

    function testSubmitRejectsBadInput() public {
        bytes memory segmentLayout = _stepsLayout(2);
        vm.roll(block.number + 1);
        vm.expectRevert(abi.encodeWithSelector(ILedger.FeeTooLow.selector, MIN_FEE - 1, MIN_FEE));
        ledger.submitTrace{value: MIN_FEE - 1}(TRACE, bytes32(0), 5, segmentLayout);
        vm.expectRevert(abi.encodeWithSelector(ILedger.InvalidCommitteeSize.selector, 0));
        ledger.submitTrace{value: FEE}(TRACE, bytes32(0), 0, segmentLayout);
        vm.expectRevert(abi.encodeWithSelector(ILedger.InvalidLayout.selector, 0));
        ledger.submitTrace{value: FEE}(TRACE, bytes32(0), 5, "");
        vm.expectRevert(abi.encodeWithSelector(ILedger.InvalidLayout.selector, 4));
        ledger.submitTrace{value: FEE}(TRACE, bytes32(0), 5, hex"01000004");
        vm.expectRevert(abi.encodeWithSelector(ILedger.InvalidLayout.selector, 0));
        ledger.submitTrace{value: FEE}(TRACE, bytes32(0), 5, hex"040000010000");
        vm.expectRevert(abi.encodeWithSelector(ILedger.InvalidLayout.selector, 3));
        ledger.submitTrace{value: FEE}(TRACE, bytes32(0), 5, hex"010000010000");
        vm.expectRevert(abi.encodeWithSelector(ILedger.InvalidLayout.selector, 3));
        ledger.submitTrace{value: FEE}(TRACE, bytes32(0), 5, hex"010000060000");
        bytes memory tooLong = new bytes(3 * 4097);
        tooLong[0] = 0x01;
        vm.expectRevert(abi.encodeWithSelector(ILedger.InvalidLayout.selector, tooLong.length));
        ledger.submitTrace{value: FEE}(TRACE, bytes32(0), 5, tooLong);
        ledger.submitTrace{value: FEE}(TRACE, bytes32(0), 5, segmentLayout);
        vm.expectRevert(abi.encodeWithSelector(ILedger.TraceAlreadySubmitted.selector, TRACE));
        ledger.submitTrace{value: FEE}(TRACE, bytes32(0), 5, segmentLayout);
    }

    function testSubmitNeedsStakeAtTheSnapshot() public {
        Ledger lonely = new Ledger(new Registry(UNBONDING_DELAY), MIN_FEE, DISPUTE_WINDOW);
        vm.roll(block.number + 1);
        vm.expectRevert(ILedger.NoStakedAuditors.selector);
        lonely.submitTrace{value: FEE}(TRACE, bytes32(0), 5, _stepsLayout(1));
    }

    // --- finalize: verdicts --------------------------------------------------------------------

    function testFinalizeSound() public {
        _submit(TRACE, 5, _stepsLayout(3));
        ILedger.SignedReveal[] memory reveals = _unanimous(TRACE, 4, VALID);
        vm.expectEmit();
        emit ILedger.VerdictFinalized(TRACE, ILedger.TraceVerdict.SOUND, type(uint32).max, hex"01010101");
        ledger.finalize(TRACE, _stepsLayout(3), reveals, _noAbsences());
        (ILedger.TraceVerdict verdict, uint32 firstError, bytes memory segments) = _verdict(TRACE);
        vm.assertEq(uint256(verdict), uint256(ILedger.TraceVerdict.SOUND), "verdict");
        vm.assertEq(uint256(firstError), type(uint32).max, "no error");
        vm.assertEq(segments, hex"01010101", "segments");
        for (uint256 a = 1; a <= 5; ++a) {
            vm.assertEq(ledger.rewardsOf(_auditor(a)), FEE / 5, "equal shares");
        }
        ILedger.TraceRecord memory record = ledger.traceOf(TRACE);
        vm.assertEq(uint256(record.finalizedAt), block.timestamp, "finalized at");
        vm.assertEq(
            record.participantsHash,
            keccak256(abi.encodePacked(_participants(reveals, _noAbsences()))),
            "participants hash"
        );
    }

    function testFinalizeFlawedPointsAtTheEarliestInvalidStep() public {
        // goal(last step 3), tactic at step 1, step 0, step 1, operation in step 2, step 3
        bytes memory segmentLayout = abi.encodePacked(
            GOAL, uint16(3), TACTIC, uint16(1), STEP, uint16(0), STEP, uint16(1)
        );
        segmentLayout = bytes.concat(
            segmentLayout, abi.encodePacked(OPERATION, uint16(2), STEP, uint16(3))
        );
        _submit(TRACE, 5, segmentLayout);
        ILedger.SignedReveal[] memory reveals = new ILedger.SignedReveal[](5);
        for (uint256 a = 0; a < 5; ++a) {
            ILedger.VoteEntry[] memory votes = _votesRange(0, 6, VALID);
            votes[0].vote = INVALID; // goal
            votes[4].vote = INVALID; // operation in step 2
            votes[5].vote = INVALID; // step 3
            reveals[a] = _reveal(a + 1, TRACE, 0, votes);
        }
        _sortReveals(reveals);
        ledger.finalize(TRACE, segmentLayout, reveals, _noAbsences());
        (ILedger.TraceVerdict verdict, uint32 firstError, bytes memory segments) = _verdict(TRACE);
        vm.assertEq(uint256(verdict), uint256(ILedger.TraceVerdict.FLAWED), "verdict");
        vm.assertEq(uint256(firstError), 2, "operation's step");
        vm.assertEq(segments, hex"020101010202", "segments");
    }

    function testFinalizeFlawedGoalOnlyPointsAtTheLastStep() public {
        _submit(TRACE, 5, _stepsLayout(3));
        ILedger.SignedReveal[] memory reveals = new ILedger.SignedReveal[](5);
        for (uint256 a = 0; a < 5; ++a) {
            ILedger.VoteEntry[] memory votes = _votesRange(0, 4, VALID);
            votes[0].vote = INVALID;
            reveals[a] = _reveal(a + 1, TRACE, 0, votes);
        }
        _sortReveals(reveals);
        ledger.finalize(TRACE, _stepsLayout(3), reveals, _noAbsences());
        (ILedger.TraceVerdict verdict, uint32 firstError,) = _verdict(TRACE);
        vm.assertEq(uint256(verdict), uint256(ILedger.TraceVerdict.FLAWED), "verdict");
        vm.assertEq(uint256(firstError), 2, "last step");
    }

    function testFinalizeInconclusiveWithoutQuorumAndDoublesTheCommittee() public {
        _submit(TRACE, 5, _stepsLayout(1));
        // 3 of 5 valid on segment 1 is below 2/3: UNRESOLVED, not abstaining -> doubled.
        ILedger.SignedReveal[] memory reveals = new ILedger.SignedReveal[](5);
        for (uint256 a = 0; a < 5; ++a) {
            ILedger.VoteEntry[] memory votes = _votesRange(0, 2, VALID);
            if (a >= 3) votes[1].vote = INVALID;
            reveals[a] = _reveal(a + 1, TRACE, 0, votes);
        }
        _sortReveals(reveals);
        ledger.finalize(TRACE, _stepsLayout(1), reveals, _noAbsences());
        (ILedger.TraceVerdict verdict, uint32 firstError, bytes memory segments) = _verdict(TRACE);
        vm.assertEq(uint256(verdict), uint256(ILedger.TraceVerdict.INCONCLUSIVE), "verdict");
        vm.assertEq(uint256(firstError), type(uint32).max, "no error");
        vm.assertEq(segments, hex"0100", "segment 1 unresolved");
        bytes memory routing = ledger.segmentRecordsOf(TRACE);
        // segment 1: tier0 = LLM (1 << 2), escalated (1 << 4), tier1 = LLM (1 << 5), doubled.
        vm.assertEq(uint256(uint8(routing[1])), (1 << 2) | (1 << 4) | (1 << 5) | (1 << 7), "route");
        // Unresolved segments pay nothing: only segment 0's coherent weight shares the fee.
        vm.assertEq(ledger.rewardsOf(_auditor(1)), FEE / 5, "fee over segment 0 voters");
    }

    function testEscalationToTheNextTierOnAbstentions() public {
        _register(6, HUMAN, STAKE);
        _register(7, HUMAN, STAKE);
        bytes memory segmentLayout = _stepsLayout(1); // goal -> HUMAN, step -> LLM
        _submit(TRACE, 5, segmentLayout);
        ILedger.SignedReveal[] memory reveals = new ILedger.SignedReveal[](9);
        for (uint256 a = 0; a < 5; ++a) {
            reveals[a] = _reveal(a + 1, TRACE, 0, _votesRange(1, 1, ABSTAIN));
        }
        for (uint256 h = 0; h < 2; ++h) {
            reveals[5 + h] = _reveal(6 + h, TRACE, 0, _votesRange(0, 1, VALID));
            reveals[7 + h] = _reveal(6 + h, TRACE, 1, _votesRange(1, 1, INVALID));
        }
        _sortReveals(reveals);
        ledger.finalize(TRACE, segmentLayout, reveals, _noAbsences());
        (ILedger.TraceVerdict verdict, uint32 firstError, bytes memory segments) = _verdict(TRACE);
        vm.assertEq(segments, hex"0102", "humans decided the step");
        vm.assertEq(uint256(verdict), uint256(ILedger.TraceVerdict.FLAWED), "verdict");
        vm.assertEq(uint256(firstError), 0, "step 0");
        // tier0 LLM, escalated, tier1 HUMAN, same committee size, verdict INVALID
        bytes memory routing = ledger.segmentRecordsOf(TRACE);
        vm.assertEq(uint256(uint8(routing[1])), 2 | (1 << 2) | (1 << 4) | (2 << 5), "route");
        vm.assertEq(ledger.rewardsOf(_auditor(1)), 0, "abstainers earn nothing");
        vm.assertEq(ledger.rewardsOf(_auditor(6)), FEE / 2, "humans share the fee");
    }

    function testDoubledCommitteeDrawsNewAuditors() public {
        bytes memory segmentLayout = _stepsLayout(15);
        bytes32 seed = _submit(TRACE, 1, segmentLayout);
        uint256 tierStake = 5 * STAKE;
        // Find an auditor drawn for a step in round 1 (k = 2) but not in round 0 (k = 1).
        (uint256 who, uint32 segment) = (0, 0);
        for (uint32 s = 1; s < 16 && who == 0; ++s) {
            for (uint256 a = 1; a <= 5; ++a) {
                bool round0 = _isAssigned(seed, s, _auditor(a), STAKE, tierStake, 1);
                bool round1 = _isAssigned(seed, s, _auditor(a), STAKE, tierStake, 2);
                if (!round0 && round1) (who, segment) = (a, s);
            }
        }
        vm.assertTrue(who != 0, "some auditor joins in round 1");
        ILedger.SignedReveal[] memory early =
            _one(_reveal(who, TRACE, 0, _votesRange(segment, 1, VALID)));
        vm.expectRevert(
            abi.encodeWithSelector(ILedger.NotAssigned.selector, _auditor(who), 0, segment)
        );
        ledger.finalize(TRACE, segmentLayout, early, _noAbsences());
        ILedger.SignedReveal[] memory late =
            _one(_reveal(who, TRACE, 1, _votesRange(segment, 1, VALID)));
        ledger.finalize(TRACE, segmentLayout, late, _noAbsences());
        (,, bytes memory segments) = _verdict(TRACE);
        vm.assertEq(uint256(uint8(segments[segment])), VALID, "decided in round 1");
    }

    function testRoundOneDropsTheRoundZeroMembersThatDidNotVote() public {
        bytes memory segmentLayout = _stepsLayout(1);
        _submit(TRACE, 5, segmentLayout);
        // Step 1 in round 0: auditors 1-2 VALID, 3 INVALID, 4 ABSTAIN, 5 absent. Unresolved and
        // mostly not abstaining: the doubled committee (all five) less auditors 4 and 5.
        ILedger.SignedReveal[] memory round0 =
            _roundZeroOnStepOne([VALID, VALID, INVALID, ABSTAIN]);
        for (uint256 who = 4; who <= 5; ++who) {
            ILedger.SignedReveal[] memory copied =
                _then(round0, _one(_reveal(who, TRACE, 1, _votesRange(1, 1, INVALID))));
            vm.expectRevert(
                abi.encodeWithSelector(ILedger.NotAssigned.selector, _auditor(who), 1, 1)
            );
            ledger.finalize(TRACE, segmentLayout, copied, _noAbsences());
        }
        ILedger.Absence[] memory absent = new ILedger.Absence[](1);
        absent[0] = ILedger.Absence({auditor: _auditor(5), round: 1, segments: new uint32[](1)});
        absent[0].segments[0] = 1;
        vm.expectRevert(abi.encodeWithSelector(ILedger.NotAssigned.selector, _auditor(5), 1, 1));
        ledger.finalize(TRACE, segmentLayout, round0, absent);
        ILedger.SignedReveal[] memory round1 = new ILedger.SignedReveal[](3);
        for (uint256 a = 0; a < 3; ++a) {
            round1[a] = _reveal(a + 1, TRACE, 1, _votesRange(1, 1, INVALID));
        }
        _sortReveals(round1);
        ledger.finalize(TRACE, segmentLayout, _then(round0, round1), _noAbsences());
        (ILedger.TraceVerdict verdict,, bytes memory segments) = _verdict(TRACE);
        vm.assertEq(uint256(uint8(segments[1])), INVALID, "the three voters decided round 1");
        vm.assertEq(uint256(verdict), uint256(ILedger.TraceVerdict.FLAWED), "verdict");
    }

    function testRoundZeroAbstentionsStandInADoubledRoundOne() public {
        bytes memory segmentLayout = _stepsLayout(1);
        _submit(TRACE, 5, segmentLayout);
        // Step 1 in round 0: auditor 1 VALID, 2 INVALID, 3-4 ABSTAIN, 5 absent. No tier above
        // the LLM holds stake, so the committee doubles: auditors 1-2 judge again, and the two
        // abstentions count in round 1's tally without being asked again.
        ILedger.SignedReveal[] memory round0 =
            _roundZeroOnStepOne([VALID, INVALID, ABSTAIN, ABSTAIN]);
        // Auditor 1 alone votes INVALID in round 1 and auditor 2 stays silent: 1 of 3 revealed
        // stakes (the carried abstentions included) is short of two thirds. Without the carry it
        // would be 1 of 1, and one member would decide what round 0 could not.
        ILedger.Absence[] memory silent = new ILedger.Absence[](1);
        silent[0] = ILedger.Absence({auditor: _auditor(2), round: 1, segments: new uint32[](1)});
        silent[0].segments[0] = 1;
        ledger.finalize(
            TRACE,
            segmentLayout,
            _then(round0, _one(_reveal(1, TRACE, 1, _votesRange(1, 1, INVALID)))),
            silent
        );
        (ILedger.TraceVerdict verdict,, bytes memory segments) = _verdict(TRACE);
        vm.assertEq(uint256(uint8(segments[1])), 0, "UNRESOLVED: the abstentions held it back");
        vm.assertEq(uint256(verdict), uint256(ILedger.TraceVerdict.INCONCLUSIVE), "verdict");
    }

    function testARoundZeroAbstainerJudgesAtTheNextTier() public {
        _register(6, LLM | HUMAN, STAKE); // checkers abstained: it may answer as a human
        bytes memory segmentLayout = _stepsLayout(1); // goal -> HUMAN, step -> LLM
        _submit(TRACE, 6, segmentLayout);
        // Every LLM auditor abstains on the step: it escalates to the HUMAN tier (same k).
        ILedger.SignedReveal[] memory reveals = new ILedger.SignedReveal[](7);
        for (uint256 a = 0; a < 5; ++a) {
            reveals[a] = _reveal(a + 1, TRACE, 0, _votesRange(1, 1, ABSTAIN));
        }
        ILedger.VoteEntry[] memory six = _votesRange(0, 2, VALID);
        six[1].vote = ABSTAIN;
        reveals[5] = _reveal(6, TRACE, 0, six);
        reveals[6] = _reveal(6, TRACE, 1, _votesRange(1, 1, INVALID));
        _sortReveals(reveals);
        ledger.finalize(TRACE, segmentLayout, reveals, _noAbsences());
        (ILedger.TraceVerdict verdict,, bytes memory segments) = _verdict(TRACE);
        vm.assertEq(segments, hex"0102", "the human decided the step in round 1");
        vm.assertEq(uint256(verdict), uint256(ILedger.TraceVerdict.FLAWED), "verdict");
    }

    /// @dev Round-0 reveals of auditors 1-4 on step 1 alone (auditor 5 silent), sorted.
    function _roundZeroOnStepOne(uint8[4] memory votes)
        private
        view
        returns (ILedger.SignedReveal[] memory round0)
    {
        round0 = new ILedger.SignedReveal[](4);
        for (uint256 a = 0; a < 4; ++a) {
            round0[a] = _reveal(a + 1, TRACE, 0, _votesRange(1, 1, votes[a]));
        }
        _sortReveals(round0);
    }

    function _then(ILedger.SignedReveal[] memory first, ILedger.SignedReveal[] memory second)
        private
        pure
        returns (ILedger.SignedReveal[] memory joined)
    {
        joined = new ILedger.SignedReveal[](first.length + second.length);
        for (uint256 i = 0; i < first.length; ++i) joined[i] = first[i];
        for (uint256 i = 0; i < second.length; ++i) joined[first.length + i] = second[i];
    }

    // --- finalize: payouts ---------------------------------------------------------------------

    function testWrongAndAbsentVotesAreSlashedAndPaidToCoherentVoters() public {
        _submit(TRACE, 5, _stepsLayout(1));
        // Auditors 1-3 vote INVALID on both segments, 4 votes VALID (wrong twice), 5 is absent.
        ILedger.SignedReveal[] memory reveals = new ILedger.SignedReveal[](4);
        for (uint256 a = 0; a < 4; ++a) {
            reveals[a] = _reveal(a + 1, TRACE, 0, _votesRange(0, 2, a == 3 ? VALID : INVALID));
        }
        _sortReveals(reveals);
        ILedger.Absence[] memory absences = new ILedger.Absence[](1);
        absences[0].auditor = _auditor(5);
        absences[0].segments = new uint32[](2);
        absences[0].segments[1] = 1;
        uint256 slash = 2 * STAKE * 100 / 10_000;
        vm.expectEmit();
        emit ILedger.VerdictFinalized(TRACE, ILedger.TraceVerdict.FLAWED, 0, hex"0202");
        ledger.finalize(TRACE, _stepsLayout(1), reveals, absences);
        uint256 pool = FEE + 2 * slash;
        for (uint256 a = 1; a <= 3; ++a) {
            vm.assertEq(ledger.rewardsOf(_auditor(a)), pool / 3, "coherent share");
        }
        vm.assertEq(ledger.rewardsOf(_auditor(4)), 0, "wrong voter");
        vm.assertEq(registry.stakeOf(_auditor(4)), STAKE - slash, "wrong voter slashed");
        vm.assertEq(registry.stakeOf(_auditor(5)), STAKE - slash, "absentee slashed");
        vm.assertEq(address(ledger).balance, pool, "fee and slashes held");
        vm.assertEq(pool - 3 * (pool / 3), pool % 3, "dust stays");
    }

    function testWithdrawRewards() public {
        _submit(TRACE, 5, _stepsLayout(1));
        ledger.finalize(TRACE, _stepsLayout(1), _unanimous(TRACE, 2, VALID), _noAbsences());
        address a1 = _auditor(1);
        uint256 before = a1.balance;
        vm.expectEmit();
        emit ILedger.RewardsWithdrawn(a1, FEE / 5);
        vm.prank(a1);
        ledger.withdrawRewards();
        vm.assertEq(a1.balance - before, FEE / 5, "paid");
        vm.assertEq(ledger.rewardsOf(a1), 0, "cleared");
        vm.prank(a1);
        vm.expectRevert(ILedger.NothingToWithdraw.selector);
        ledger.withdrawRewards();
    }

    function testLedgerRefusesStrayEther() public {
        (bool ok, bytes memory data) = address(ledger).call{value: 1}("");
        vm.assertFalse(ok, "refused");
        vm.assertEq(
            data, abi.encodeWithSelector(ILedger.UnexpectedPayment.selector, address(this)), "error"
        );
    }

    // --- finalize: errors ----------------------------------------------------------------------

    function testFinalizeUnknownAndTwice() public {
        vm.expectRevert(abi.encodeWithSelector(ILedger.UnknownTrace.selector, TRACE));
        ledger.finalize(TRACE, _stepsLayout(1), _noReveals(), _noAbsences());
        _submit(TRACE, 5, _stepsLayout(1));
        vm.expectRevert(abi.encodeWithSelector(ILedger.LayoutMismatch.selector, TRACE));
        ledger.finalize(TRACE, _stepsLayout(2), _noReveals(), _noAbsences());
        ledger.finalize(TRACE, _stepsLayout(1), _unanimous(TRACE, 2, VALID), _noAbsences());
        vm.expectRevert(abi.encodeWithSelector(ILedger.AlreadyFinalized.selector, TRACE));
        ledger.finalize(TRACE, _stepsLayout(1), _unanimous(TRACE, 2, VALID), _noAbsences());
    }

    function testSignatureForAnotherChainOrContractIsRejected() public {
        _submit(TRACE, 5, _stepsLayout(1));
        ILedger.VoteEntry[] memory votes = _votesRange(0, 2, VALID);
        ILedger.SignedReveal memory otherChain =
            _revealFor(1, TRACE, 0, votes, block.chainid + 1, address(ledger));
        vm.expectRevert(abi.encodeWithSelector(ILedger.InvalidSignature.selector, _auditor(1)));
        ledger.finalize(TRACE, _stepsLayout(1), _one(otherChain), _noAbsences());
        ILedger.SignedReveal memory otherContract =
            _revealFor(1, TRACE, 0, votes, block.chainid, address(registry));
        vm.expectRevert(abi.encodeWithSelector(ILedger.InvalidSignature.selector, _auditor(1)));
        ledger.finalize(TRACE, _stepsLayout(1), _one(otherContract), _noAbsences());
        ILedger.SignedReveal memory tampered = _reveal(1, TRACE, 0, votes);
        votes[1].confidence = 1;
        tampered.votes = _pack(votes);
        vm.expectRevert(abi.encodeWithSelector(ILedger.InvalidSignature.selector, _auditor(1)));
        ledger.finalize(TRACE, _stepsLayout(1), _one(tampered), _noAbsences());
        ILedger.SignedReveal memory impostor = _reveal(1, TRACE, 0, votes);
        impostor.auditor = _auditor(2);
        vm.expectRevert(abi.encodeWithSelector(ILedger.InvalidSignature.selector, _auditor(2)));
        ledger.finalize(TRACE, _stepsLayout(1), _one(impostor), _noAbsences());
    }

    function testSignatureCheckedAfterAChainIdChange() public {
        _submit(TRACE, 5, _stepsLayout(1));
        ILedger.SignedReveal[] memory reveals = _unanimous(TRACE, 2, VALID);
        vm.chainId(block.chainid + 7);
        vm.expectRevert(
            abi.encodeWithSelector(ILedger.InvalidSignature.selector, reveals[0].auditor)
        );
        ledger.finalize(TRACE, _stepsLayout(1), reveals, _noAbsences());
    }

    function testStaleRound() public {
        _submit(TRACE, 5, _stepsLayout(1));
        ILedger.SignedReveal[] memory reveals =
            _one(_reveal(1, TRACE, 2, _votesRange(0, 2, VALID)));
        vm.expectRevert(abi.encodeWithSelector(ILedger.StaleRound.selector, 2));
        ledger.finalize(TRACE, _stepsLayout(1), reveals, _noAbsences());
        ILedger.Absence[] memory absences = new ILedger.Absence[](1);
        absences[0] = ILedger.Absence({auditor: _auditor(1), round: 5, segments: new uint32[](1)});
        vm.expectRevert(abi.encodeWithSelector(ILedger.StaleRound.selector, 5));
        ledger.finalize(TRACE, _stepsLayout(1), _noReveals(), absences);
    }

    function testUnassignedVoterIsRejected() public {
        _register(6, HUMAN, STAKE);
        _submit(TRACE, 5, _stepsLayout(1));
        // A human on an LLM step.
        ILedger.SignedReveal[] memory reveals =
            _one(_reveal(6, TRACE, 0, _votesRange(1, 1, VALID)));
        vm.expectRevert(abi.encodeWithSelector(ILedger.NotAssigned.selector, _auditor(6), 0, 1));
        ledger.finalize(TRACE, _stepsLayout(1), reveals, _noAbsences());
        // An unregistered signer.
        reveals = _one(_reveal(9, TRACE, 0, _votesRange(1, 1, VALID)));
        vm.expectRevert(abi.encodeWithSelector(ILedger.NotAssigned.selector, _auditor(9), 0, 1));
        ledger.finalize(TRACE, _stepsLayout(1), reveals, _noAbsences());
        // An LLM auditor on the goal, which the human tier judges.
        reveals = _one(_reveal(1, TRACE, 0, _votesRange(0, 1, VALID)));
        vm.expectRevert(abi.encodeWithSelector(ILedger.NotAssigned.selector, _auditor(1), 0, 0));
        ledger.finalize(TRACE, _stepsLayout(1), reveals, _noAbsences());
        // Round 1 on a segment that did not escalate.
        reveals = new ILedger.SignedReveal[](2);
        reveals[0] = _reveal(1, TRACE, 0, _votesRange(1, 1, VALID));
        reveals[1] = _reveal(1, TRACE, 1, _votesRange(1, 1, VALID));
        vm.expectRevert(abi.encodeWithSelector(ILedger.NotAssigned.selector, _auditor(1), 1, 1));
        ledger.finalize(TRACE, _stepsLayout(1), reveals, _noAbsences());
        // An absence that was never assigned.
        ILedger.Absence[] memory absences = new ILedger.Absence[](1);
        absences[0] = ILedger.Absence({auditor: _auditor(6), round: 0, segments: new uint32[](1)});
        absences[0].segments[0] = 1;
        vm.expectRevert(abi.encodeWithSelector(ILedger.NotAssigned.selector, _auditor(6), 0, 1));
        ledger.finalize(TRACE, _stepsLayout(1), _noReveals(), absences);
    }

    function testSortitionExcludesSomeAuditorsAtSmallK() public {
        bytes memory segmentLayout = _stepsLayout(7);
        bytes32 seed = _submit(TRACE, 1, segmentLayout);
        (uint256 who, uint32 segment) = (0, 0);
        for (uint32 s = 1; s < 8 && who == 0; ++s) {
            for (uint256 a = 1; a <= 5 && who == 0; ++a) {
                if (!_isAssigned(seed, s, _auditor(a), STAKE, 5 * STAKE, 1)) (who, segment) = (a, s);
            }
        }
        vm.assertTrue(who != 0, "someone is left out");
        ILedger.SignedReveal[] memory reveals =
            _one(_reveal(who, TRACE, 0, _votesRange(segment, 1, VALID)));
        vm.expectRevert(
            abi.encodeWithSelector(ILedger.NotAssigned.selector, _auditor(who), 0, segment)
        );
        ledger.finalize(TRACE, segmentLayout, reveals, _noAbsences());
    }

    function testMalformedVotes() public {
        _submit(TRACE, 5, _stepsLayout(1));
        ILedger.SignedReveal[] memory reveals =
            _one(_reveal(1, TRACE, 0, new ILedger.VoteEntry[](0)));
        vm.expectRevert(abi.encodeWithSelector(ILedger.EmptyVotes.selector, _auditor(1)));
        ledger.finalize(TRACE, _stepsLayout(1), reveals, _noAbsences());
        reveals = _one(_reveal(1, TRACE, 0, _votesRange(1, 2, VALID)));
        vm.expectRevert(abi.encodeWithSelector(ILedger.InvalidSegment.selector, _auditor(1), 2));
        ledger.finalize(TRACE, _stepsLayout(1), reveals, _noAbsences());
        ILedger.VoteEntry[] memory votes = _votesRange(0, 2, VALID);
        votes[1].segment = 0;
        reveals = _one(_reveal(1, TRACE, 0, votes));
        vm.expectRevert(abi.encodeWithSelector(ILedger.InvalidSegment.selector, _auditor(1), 0));
        ledger.finalize(TRACE, _stepsLayout(1), reveals, _noAbsences());
        votes = _votesRange(0, 2, VALID);
        votes[1].vote = 3;
        reveals = _one(_reveal(1, TRACE, 0, votes));
        vm.expectRevert(abi.encodeWithSelector(ILedger.InvalidVote.selector, _auditor(1), 1));
        ledger.finalize(TRACE, _stepsLayout(1), reveals, _noAbsences());
        votes = _votesRange(0, 2, VALID);
        votes[0].confidence = 10_001;
        reveals = _one(_reveal(1, TRACE, 0, votes));
        vm.expectRevert(abi.encodeWithSelector(ILedger.InvalidVote.selector, _auditor(1), 0));
        ledger.finalize(TRACE, _stepsLayout(1), reveals, _noAbsences());
        // Packed votes must be whole 7-byte entries: a trailing byte is refused, not ignored.
        reveals = _one(_reveal(1, TRACE, 0, _votesRange(0, 2, VALID)));
        reveals[0].votes = bytes.concat(reveals[0].votes, hex"00");
        vm.expectRevert(abi.encodeWithSelector(ILedger.MalformedVotes.selector, _auditor(1)));
        ledger.finalize(TRACE, _stepsLayout(1), reveals, _noAbsences());
    }

    function testReportOrdering() public {
        _submit(TRACE, 5, _stepsLayout(1));
        ILedger.SignedReveal[] memory reveals = _unanimous(TRACE, 2, VALID);
        (reveals[0], reveals[1]) = (reveals[1], reveals[0]);
        vm.expectRevert(abi.encodeWithSelector(ILedger.RevealsNotSorted.selector, 1));
        ledger.finalize(TRACE, _stepsLayout(1), reveals, _noAbsences());
        reveals = _unanimous(TRACE, 2, VALID);
        reveals[1] = reveals[0];
        vm.expectRevert(abi.encodeWithSelector(ILedger.RevealsNotSorted.selector, 1));
        ledger.finalize(TRACE, _stepsLayout(1), reveals, _noAbsences());
        // A round-0 reveal after round 1's: auditors 1 and 2 split segment 0 in round 0, so it
        // escalates, and auditor 1 voted on it, so it stays in round 1.
        ILedger.SignedReveal[] memory sorted = new ILedger.SignedReveal[](3);
        sorted[0] = _reveal(1, TRACE, 0, _votesRange(0, 1, VALID));
        sorted[1] = _reveal(2, TRACE, 0, _votesRange(0, 1, INVALID));
        sorted[2] = _reveal(1, TRACE, 1, _votesRange(0, 1, VALID));
        _sortReveals(sorted);
        reveals = new ILedger.SignedReveal[](4);
        (reveals[0], reveals[1], reveals[2]) = (sorted[0], sorted[1], sorted[2]);
        reveals[3] = _reveal(3, TRACE, 0, _votesRange(0, 1, VALID));
        vm.expectRevert(abi.encodeWithSelector(ILedger.RevealsNotSorted.selector, 3));
        ledger.finalize(TRACE, _stepsLayout(1), reveals, _noAbsences());
        // Absences out of order, and an auditor both revealing and absent.
        ILedger.Absence[] memory absences = new ILedger.Absence[](2);
        (address low, address high) = _auditor(1) < _auditor(2)
            ? (_auditor(1), _auditor(2))
            : (_auditor(2), _auditor(1));
        absences[0] = ILedger.Absence({auditor: high, round: 0, segments: new uint32[](1)});
        absences[1] = ILedger.Absence({auditor: low, round: 0, segments: new uint32[](1)});
        vm.expectRevert(abi.encodeWithSelector(ILedger.AbsencesNotSorted.selector, 1));
        ledger.finalize(TRACE, _stepsLayout(1), _noReveals(), absences);
        ILedger.Absence[] memory both = new ILedger.Absence[](1);
        both[0] = ILedger.Absence({auditor: _auditor(1), round: 0, segments: new uint32[](1)});
        reveals = _one(_reveal(1, TRACE, 0, _votesRange(0, 1, VALID)));
        vm.expectRevert(
            abi.encodeWithSelector(ILedger.DuplicateParticipant.selector, 0, _auditor(1))
        );
        ledger.finalize(TRACE, _stepsLayout(1), reveals, both);
        both[0].segments = new uint32[](0);
        vm.expectRevert(abi.encodeWithSelector(ILedger.EmptyVotes.selector, _auditor(1)));
        ledger.finalize(TRACE, _stepsLayout(1), _noReveals(), both);
    }

    function testViewsAndConstantsMatchTheProtocol() public view {
        vm.assertEq(ledger.domainSeparator(), _domainSeparator(block.chainid, address(ledger)), "domain");
        vm.assertEq(ledger.QUORUM_NUM(), 1, "quorum num");
        vm.assertEq(ledger.QUORUM_DEN(), 2, "quorum den");
        vm.assertEq(ledger.SUPERMAJORITY_NUM(), 2, "supermajority num");
        vm.assertEq(ledger.SUPERMAJORITY_DEN(), 3, "supermajority den");
        vm.assertEq(ledger.SLASH_BPS(), 100, "slash");
        vm.assertEq(ledger.ABSTAIN_ESCALATION_BPS(), 5000, "abstain escalation");
        vm.assertEq(ledger.MAX_ROUNDS(), 2, "rounds");
        vm.assertEq(ledger.MAX_SEGMENTS(), 4096, "segments");
        vm.assertEq(ledger.MAX_COMMITTEE_SIZE(), 65_535, "committee");
        vm.assertEq(ledger.disputeWindow(), DISPUTE_WINDOW, "window");
        vm.assertEq(ledger.minFee(), MIN_FEE, "min fee");
        vm.assertEq(address(ledger.registry()), address(registry), "registry");
        vm.assertEq(ledger.participantKey(1, address(0xBEEF)), (1 << 160) | 0xBEEF, "key");
    }
}
