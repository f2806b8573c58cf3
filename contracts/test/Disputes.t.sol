// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Fixture} from "./utils/Fixture.sol";
import {ILedger} from "../src/interfaces/ILedger.sol";

/// @notice slashEquivocation, proveReveal and slashAbsent. Auditors 1..5 (LLM, equal stake,
/// k = 5) are drawn for every step; auditor 6 is a human; auditor 5 is left out of the report.
contract DisputesTest is Fixture {
    bytes32 internal constant TRACE = keccak256("disputed");
    address internal constant REPORTER = address(0xB0B);

    ILedger.SignedReveal[] internal _reported;
    uint256[] internal _keys;
    /// @dev No round-0 reveal: what a dispute that needs none passes.
    ILedger.SignedReveal internal _noRoundZero;

    function setUp() public {
        _deploy();
        _registerMany(1, 5, LLM);
        _register(6, HUMAN, STAKE);
        _submit(TRACE, 5, _stepsLayout(2)); // goal (human), steps 1 and 2 (LLM)
    }

    /// @dev Finalizes with auditors 1-4 voting VALID on the steps; auditor 5 is omitted.
    function _finalizeWithoutFive() internal {
        ILedger.SignedReveal[] memory reveals = new ILedger.SignedReveal[](5);
        for (uint256 a = 0; a < 4; ++a) reveals[a] = _reveal(a + 1, TRACE, 0, _votesRange(1, 2, VALID));
        reveals[4] = _reveal(6, TRACE, 0, _votesRange(0, 1, VALID));
        _sortReveals(reveals);
        ledger.finalize(TRACE, _stepsLayout(2), reveals, _noAbsences());
        uint256[] memory keys = _participants(reveals, _noAbsences());
        for (uint256 i = 0; i < keys.length; ++i) _keys.push(keys[i]);
    }

    function _fiveReveal() internal view returns (ILedger.SignedReveal memory) {
        return _reveal(5, TRACE, 0, _votesRange(1, 2, INVALID));
    }

    // --- equivocation --------------------------------------------------------------------------

    function testEquivocationIsSlashedOncePerRound() public {
        ILedger.SignedReveal memory a = _reveal(1, TRACE, 0, _votesRange(1, 2, VALID));
        ILedger.SignedReveal memory b = _reveal(1, TRACE, 0, _votesRange(2, 1, INVALID));
        uint256 amount = STAKE * 1000 / 10_000;
        vm.expectEmit();
        emit ILedger.EquivocationSlashed(TRACE, _auditor(1), 0, REPORTER, amount);
        vm.prank(REPORTER);
        ledger.slashEquivocation(TRACE, a, b);
        vm.assertEq(ledger.rewardsOf(REPORTER), amount, "bounty credited");
        vm.assertEq(registry.stakeOf(_auditor(1)), STAKE - amount, "slashed");
        vm.assertEq(address(ledger).balance, FEE + amount, "slash received");
        vm.expectRevert(
            abi.encodeWithSelector(ILedger.AlreadySlashed.selector, TRACE, _auditor(1))
        );
        ledger.slashEquivocation(TRACE, a, b);
        // Round 1 is a separate slot.
        ILedger.SignedReveal memory c = _reveal(1, TRACE, 1, _votesRange(1, 1, VALID));
        ILedger.SignedReveal memory d = _reveal(1, TRACE, 1, _votesRange(1, 1, ABSTAIN));
        ledger.slashEquivocation(TRACE, c, d);
    }

    function testConfidenceAloneIsEquivocation() public {
        ILedger.SignedReveal memory a = _reveal(2, TRACE, 0, _votesRange(1, 1, VALID));
        ILedger.VoteEntry[] memory votes = _votesRange(1, 1, VALID);
        votes[0].confidence = 1234;
        ILedger.SignedReveal memory b = _reveal(2, TRACE, 0, votes);
        ledger.slashEquivocation(TRACE, a, b);
        vm.assertEq(registry.stakeOf(_auditor(2)), STAKE - STAKE / 10, "slashed");
    }

    function testEquivocationErrors() public {
        ILedger.SignedReveal memory a = _reveal(1, TRACE, 0, _votesRange(1, 1, VALID));
        ILedger.SignedReveal memory b = _reveal(1, TRACE, 0, _votesRange(1, 1, INVALID));
        vm.expectRevert(abi.encodeWithSelector(ILedger.UnknownTrace.selector, bytes32(0)));
        ledger.slashEquivocation(bytes32(0), a, b);
        ILedger.SignedReveal memory other = _reveal(2, TRACE, 0, _votesRange(1, 1, INVALID));
        vm.expectRevert(ILedger.DifferentSlots.selector);
        ledger.slashEquivocation(TRACE, a, other);
        ILedger.SignedReveal memory later = _reveal(1, TRACE, 1, _votesRange(1, 1, INVALID));
        vm.expectRevert(ILedger.DifferentSlots.selector);
        ledger.slashEquivocation(TRACE, a, later);
        ILedger.SignedReveal memory sameVote = _reveal(1, TRACE, 0, _votesRange(1, 1, VALID));
        sameVote.rationales = bytes32(uint256(42));
        sameVote.salt = bytes32(uint256(43));
        _sign(1, TRACE, sameVote, block.chainid, address(ledger));
        vm.expectRevert(ILedger.NoEquivocation.selector);
        ledger.slashEquivocation(TRACE, a, sameVote);
        ILedger.SignedReveal memory disjoint = _reveal(1, TRACE, 0, _votesRange(2, 1, INVALID));
        vm.expectRevert(ILedger.NoEquivocation.selector);
        ledger.slashEquivocation(TRACE, a, disjoint);
        ILedger.SignedReveal memory forged = _reveal(1, TRACE, 0, _votesRange(1, 1, INVALID));
        forged.signature = a.signature;
        vm.expectRevert(abi.encodeWithSelector(ILedger.InvalidSignature.selector, _auditor(1)));
        ledger.slashEquivocation(TRACE, a, forged);
        ILedger.SignedReveal memory s1 = _reveal(1, TRACE, 2, _votesRange(1, 1, VALID));
        ILedger.SignedReveal memory s2 = _reveal(1, TRACE, 2, _votesRange(1, 1, INVALID));
        vm.expectRevert(abi.encodeWithSelector(ILedger.StaleRound.selector, 2));
        ledger.slashEquivocation(TRACE, s1, s2);
    }

    // --- proveReveal ---------------------------------------------------------------------------

    function testProveRevealMakesImmuneAndContests() public {
        _finalizeWithoutFive();
        vm.expectEmit();
        emit ILedger.RevealProven(TRACE, _auditor(5), 0);
        vm.expectEmit();
        emit ILedger.VerdictContested(TRACE);
        ledger.proveReveal(TRACE, _keys, _fiveReveal(), _noRoundZero);
        vm.assertTrue(ledger.traceOf(TRACE).contested, "contested");
        vm.expectRevert(abi.encodeWithSelector(ILedger.AlreadyProven.selector, TRACE, _auditor(5)));
        ledger.proveReveal(TRACE, _keys, _fiveReveal(), _noRoundZero);
        vm.warp(block.timestamp + DISPUTE_WINDOW);
        vm.expectRevert(abi.encodeWithSelector(ILedger.AuditorImmune.selector, TRACE, _auditor(5)));
        ledger.slashAbsent(TRACE, _keys, _auditor(5), 0, 1, _noRoundZero);
    }

    function testProveRevealErrors() public {
        vm.expectRevert(abi.encodeWithSelector(ILedger.NotFinalized.selector, TRACE));
        ledger.proveReveal(TRACE, _keys, _fiveReveal(), _noRoundZero);
        _finalizeWithoutFive();
        uint256[] memory wrong = new uint256[](1);
        vm.expectRevert(abi.encodeWithSelector(ILedger.ParticipantsMismatch.selector, TRACE));
        ledger.proveReveal(TRACE, wrong, _fiveReveal(), _noRoundZero);
        ILedger.SignedReveal memory listed = _reveal(1, TRACE, 0, _votesRange(1, 1, VALID));
        vm.expectRevert(abi.encodeWithSelector(ILedger.AlreadyParticipant.selector, 0, _auditor(1)));
        ledger.proveReveal(TRACE, _keys, listed, _noRoundZero);
        ILedger.SignedReveal memory unassigned = _reveal(6, TRACE, 1, _votesRange(1, 1, VALID));
        vm.expectRevert(abi.encodeWithSelector(ILedger.NotAssigned.selector, _auditor(6), 1, 1));
        ledger.proveReveal(TRACE, _keys, unassigned, _noRoundZero);
        ILedger.SignedReveal memory forged = _fiveReveal();
        forged.salt = bytes32(0);
        vm.expectRevert(abi.encodeWithSelector(ILedger.InvalidSignature.selector, _auditor(5)));
        ledger.proveReveal(TRACE, _keys, forged, _noRoundZero);
        vm.warp(block.timestamp + DISPUTE_WINDOW);
        vm.expectRevert(
            abi.encodeWithSelector(
                ILedger.DisputeWindowClosed.selector, uint64(block.timestamp)
            )
        );
        ledger.proveReveal(TRACE, _keys, _fiveReveal(), _noRoundZero);
    }

    // --- slashAbsent ---------------------------------------------------------------------------

    function testSlashAbsentAfterTheWindow() public {
        _finalizeWithoutFive();
        uint64 closesAt = uint64(block.timestamp + DISPUTE_WINDOW);
        vm.expectRevert(abi.encodeWithSelector(ILedger.DisputeWindowOpen.selector, closesAt));
        ledger.slashAbsent(TRACE, _keys, _auditor(5), 0, 1, _noRoundZero);
        vm.warp(closesAt);
        uint256 amount = STAKE * 100 / 10_000;
        vm.expectEmit();
        emit ILedger.VerdictContested(TRACE);
        vm.expectEmit();
        emit ILedger.AbsenceSlashed(TRACE, _auditor(5), 0, REPORTER, amount);
        vm.prank(REPORTER);
        ledger.slashAbsent(TRACE, _keys, _auditor(5), 0, 1, _noRoundZero);
        vm.assertEq(ledger.rewardsOf(REPORTER), amount, "bounty");
        vm.assertEq(registry.stakeOf(_auditor(5)), STAKE - amount, "slashed");
        vm.expectRevert(abi.encodeWithSelector(ILedger.AlreadySlashed.selector, TRACE, _auditor(5)));
        ledger.slashAbsent(TRACE, _keys, _auditor(5), 0, 2, _noRoundZero);
        uint256 before = REPORTER.balance;
        vm.prank(REPORTER);
        ledger.withdrawRewards();
        vm.assertEq(REPORTER.balance - before, amount, "bounty paid");
    }

    function testSlashAbsentErrors() public {
        vm.expectRevert(abi.encodeWithSelector(ILedger.NotFinalized.selector, TRACE));
        ledger.slashAbsent(TRACE, _keys, _auditor(5), 0, 1, _noRoundZero);
        _finalizeWithoutFive();
        vm.warp(block.timestamp + DISPUTE_WINDOW);
        vm.expectRevert(abi.encodeWithSelector(ILedger.AlreadyParticipant.selector, 0, _auditor(1)));
        ledger.slashAbsent(TRACE, _keys, _auditor(1), 0, 1, _noRoundZero);
        vm.expectRevert(abi.encodeWithSelector(ILedger.NotAssigned.selector, _auditor(5), 0, 0));
        ledger.slashAbsent(TRACE, _keys, _auditor(5), 0, 0, _noRoundZero);
        vm.expectRevert(abi.encodeWithSelector(ILedger.NotAssigned.selector, _auditor(5), 1, 1));
        ledger.slashAbsent(TRACE, _keys, _auditor(5), 1, 1, _noRoundZero);
        vm.expectRevert(abi.encodeWithSelector(ILedger.InvalidSegment.selector, _auditor(5), 9));
        ledger.slashAbsent(TRACE, _keys, _auditor(5), 0, 9, _noRoundZero);
        vm.expectRevert(abi.encodeWithSelector(ILedger.StaleRound.selector, 2));
        ledger.slashAbsent(TRACE, _keys, _auditor(5), 2, 1, _noRoundZero);
        uint256[] memory wrong = new uint256[](0);
        vm.expectRevert(abi.encodeWithSelector(ILedger.ParticipantsMismatch.selector, TRACE));
        ledger.slashAbsent(TRACE, wrong, _auditor(5), 0, 1, _noRoundZero);
    }

    // --- round 1: who of round 0 stays ---------------------------------------------------------

    /// @dev Step 1 splits in round 0 (1-2 VALID, 3 INVALID, 4 ABSTAIN, 5 absent), so round 1
    /// re-judges it with auditors 1-3; the report holds round 1's reveals of 1 and 2 only.
    function _finalizeWithoutThreeInRoundOne() internal {
        ILedger.SignedReveal[] memory reveals = new ILedger.SignedReveal[](6);
        for (uint256 a = 0; a < 4; ++a) reveals[a] = _roundZeroOf(a + 1);
        reveals[4] = _reveal(1, TRACE, 1, _votesRange(1, 1, INVALID));
        reveals[5] = _reveal(2, TRACE, 1, _votesRange(1, 1, INVALID));
        _sortReveals(reveals);
        ledger.finalize(TRACE, _stepsLayout(2), reveals, _noAbsences());
        uint256[] memory keys = _participants(reveals, _noAbsences());
        for (uint256 i = 0; i < keys.length; ++i) _keys.push(keys[i]);
    }

    function _roundZeroOf(uint256 auditor) internal view returns (ILedger.SignedReveal memory) {
        ILedger.VoteEntry[] memory votes = _votesRange(1, 2, VALID);
        if (auditor == 3) votes[0].vote = INVALID;
        if (auditor == 4) votes[0].vote = ABSTAIN;
        return _reveal(auditor, TRACE, 0, votes);
    }

    function testRoundOneAbsenceOfARoundZeroMemberNeedsItsRoundZeroVote() public {
        _finalizeWithoutThreeInRoundOne();
        vm.warp(block.timestamp + DISPUTE_WINDOW);
        bytes memory notAssigned3 =
            abi.encodeWithSelector(ILedger.NotAssigned.selector, _auditor(3), 1, 1);
        vm.expectRevert(notAssigned3);
        ledger.slashAbsent(TRACE, _keys, _auditor(3), 1, 1, _noRoundZero);
        vm.expectRevert(notAssigned3); // another auditor's reveal proves nothing
        ledger.slashAbsent(TRACE, _keys, _auditor(3), 1, 1, _roundZeroOf(1));
        ILedger.SignedReveal memory forged = _roundZeroOf(3);
        forged.signature = _roundZeroOf(1).signature;
        vm.expectRevert(abi.encodeWithSelector(ILedger.InvalidSignature.selector, _auditor(3)));
        ledger.slashAbsent(TRACE, _keys, _auditor(3), 1, 1, forged);
        // Auditor 4 abstained on step 1 in round 0: its round-1 absence there is none.
        vm.expectRevert(abi.encodeWithSelector(ILedger.NotAssigned.selector, _auditor(4), 1, 1));
        ledger.slashAbsent(TRACE, _keys, _auditor(4), 1, 1, _roundZeroOf(4));
        // Auditor 5 revealed nothing in round 0, so it left round 1 too.
        vm.expectRevert(abi.encodeWithSelector(ILedger.NotAssigned.selector, _auditor(5), 1, 1));
        ledger.slashAbsent(TRACE, _keys, _auditor(5), 1, 1, _noRoundZero);
        uint256 amount = STAKE * 100 / 10_000;
        vm.expectEmit();
        emit ILedger.AbsenceSlashed(TRACE, _auditor(3), 1, address(this), amount);
        ledger.slashAbsent(TRACE, _keys, _auditor(3), 1, 1, _roundZeroOf(3));
    }

    function testAnOmittedRoundOneRevealOfARoundZeroMemberIsProvenWithItsRoundZeroVote() public {
        _finalizeWithoutThreeInRoundOne();
        ILedger.SignedReveal memory omitted = _reveal(3, TRACE, 1, _votesRange(1, 1, VALID));
        vm.expectRevert(abi.encodeWithSelector(ILedger.NotAssigned.selector, _auditor(3), 1, 1));
        ledger.proveReveal(TRACE, _keys, omitted, _noRoundZero);
        vm.expectEmit();
        emit ILedger.RevealProven(TRACE, _auditor(3), 1);
        ledger.proveReveal(TRACE, _keys, omitted, _roundZeroOf(3));
        ILedger.SignedReveal memory copied = _reveal(4, TRACE, 1, _votesRange(1, 1, VALID));
        vm.expectRevert(abi.encodeWithSelector(ILedger.NotAssigned.selector, _auditor(4), 1, 1));
        ledger.proveReveal(TRACE, _keys, copied, _roundZeroOf(4));
    }
}
