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
        ledger.proveReveal(TRACE, _keys, _fiveReveal());
        vm.assertTrue(ledger.traceOf(TRACE).contested, "contested");
        vm.expectRevert(abi.encodeWithSelector(ILedger.AlreadyProven.selector, TRACE, _auditor(5)));
        ledger.proveReveal(TRACE, _keys, _fiveReveal());
        vm.warp(block.timestamp + DISPUTE_WINDOW);
        vm.expectRevert(abi.encodeWithSelector(ILedger.AuditorImmune.selector, TRACE, _auditor(5)));
        ledger.slashAbsent(TRACE, _keys, _auditor(5), 0, 1);
    }

    function testProveRevealErrors() public {
        vm.expectRevert(abi.encodeWithSelector(ILedger.NotFinalized.selector, TRACE));
        ledger.proveReveal(TRACE, _keys, _fiveReveal());
        _finalizeWithoutFive();
        uint256[] memory wrong = new uint256[](1);
        vm.expectRevert(abi.encodeWithSelector(ILedger.ParticipantsMismatch.selector, TRACE));
        ledger.proveReveal(TRACE, wrong, _fiveReveal());
        ILedger.SignedReveal memory listed = _reveal(1, TRACE, 0, _votesRange(1, 1, VALID));
        vm.expectRevert(abi.encodeWithSelector(ILedger.AlreadyParticipant.selector, 0, _auditor(1)));
        ledger.proveReveal(TRACE, _keys, listed);
        ILedger.SignedReveal memory unassigned = _reveal(6, TRACE, 1, _votesRange(1, 1, VALID));
        vm.expectRevert(abi.encodeWithSelector(ILedger.NotAssigned.selector, _auditor(6), 1, 1));
        ledger.proveReveal(TRACE, _keys, unassigned);
        ILedger.SignedReveal memory forged = _fiveReveal();
        forged.salt = bytes32(0);
        vm.expectRevert(abi.encodeWithSelector(ILedger.InvalidSignature.selector, _auditor(5)));
        ledger.proveReveal(TRACE, _keys, forged);
        vm.warp(block.timestamp + DISPUTE_WINDOW);
        vm.expectRevert(
            abi.encodeWithSelector(
                ILedger.DisputeWindowClosed.selector, uint64(block.timestamp)
            )
        );
        ledger.proveReveal(TRACE, _keys, _fiveReveal());
    }

    // --- slashAbsent ---------------------------------------------------------------------------

    function testSlashAbsentAfterTheWindow() public {
        _finalizeWithoutFive();
        uint64 closesAt = uint64(block.timestamp + DISPUTE_WINDOW);
        vm.expectRevert(abi.encodeWithSelector(ILedger.DisputeWindowOpen.selector, closesAt));
        ledger.slashAbsent(TRACE, _keys, _auditor(5), 0, 1);
        vm.warp(closesAt);
        uint256 amount = STAKE * 100 / 10_000;
        vm.expectEmit();
        emit ILedger.VerdictContested(TRACE);
        vm.expectEmit();
        emit ILedger.AbsenceSlashed(TRACE, _auditor(5), 0, REPORTER, amount);
        vm.prank(REPORTER);
        ledger.slashAbsent(TRACE, _keys, _auditor(5), 0, 1);
        vm.assertEq(ledger.rewardsOf(REPORTER), amount, "bounty");
        vm.assertEq(registry.stakeOf(_auditor(5)), STAKE - amount, "slashed");
        vm.expectRevert(abi.encodeWithSelector(ILedger.AlreadySlashed.selector, TRACE, _auditor(5)));
        ledger.slashAbsent(TRACE, _keys, _auditor(5), 0, 2);
        uint256 before = REPORTER.balance;
        vm.prank(REPORTER);
        ledger.withdrawRewards();
        vm.assertEq(REPORTER.balance - before, amount, "bounty paid");
    }

    function testSlashAbsentErrors() public {
        vm.expectRevert(abi.encodeWithSelector(ILedger.NotFinalized.selector, TRACE));
        ledger.slashAbsent(TRACE, _keys, _auditor(5), 0, 1);
        _finalizeWithoutFive();
        vm.warp(block.timestamp + DISPUTE_WINDOW);
        vm.expectRevert(abi.encodeWithSelector(ILedger.AlreadyParticipant.selector, 0, _auditor(1)));
        ledger.slashAbsent(TRACE, _keys, _auditor(1), 0, 1);
        vm.expectRevert(abi.encodeWithSelector(ILedger.NotAssigned.selector, _auditor(5), 0, 0));
        ledger.slashAbsent(TRACE, _keys, _auditor(5), 0, 0);
        vm.expectRevert(abi.encodeWithSelector(ILedger.NotAssigned.selector, _auditor(5), 1, 1));
        ledger.slashAbsent(TRACE, _keys, _auditor(5), 1, 1);
        vm.expectRevert(abi.encodeWithSelector(ILedger.InvalidSegment.selector, _auditor(5), 9));
        ledger.slashAbsent(TRACE, _keys, _auditor(5), 0, 9);
        vm.expectRevert(abi.encodeWithSelector(ILedger.StaleRound.selector, 2));
        ledger.slashAbsent(TRACE, _keys, _auditor(5), 2, 1);
        uint256[] memory wrong = new uint256[](0);
        vm.expectRevert(abi.encodeWithSelector(ILedger.ParticipantsMismatch.selector, TRACE));
        ledger.slashAbsent(TRACE, wrong, _auditor(5), 0, 1);
    }
}
