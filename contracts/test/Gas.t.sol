// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Fixture} from "./utils/Fixture.sol";
import {ILedger} from "../src/interfaces/ILedger.sol";

/// @notice Gas of finalize for the product figure: a 20-segment trace, 5 auditors per segment,
/// all coherent. The tests run isolated (each call its own transaction), so `lastCallGas` is
/// the whole transaction: 21000 base, calldata, cold storage and execution. The bounds guard
/// against regressions; the measured figures are printed with -vv.
contract GasTest is Fixture {
    /// @dev Measured 333,249 (steady state) and 418,713 (first trace) with solc 0.8.37, packed
    /// 7-byte votes and one rationales commitment per reveal.
    uint256 internal constant STEADY_BOUND = 340_000;
    uint256 internal constant FIRST_BOUND = 425_000;

    event log_named_uint(string key, uint256 val);

    function setUp() public {
        _deploy();
        _registerMany(1, 5, LLM);
    }

    function _measure(bytes32 traceId) internal returns (uint256 gasUsed) {
        bytes memory segmentLayout = _stepsLayout(19);
        _submit(traceId, 5, segmentLayout);
        ILedger.SignedReveal[] memory reveals = new ILedger.SignedReveal[](5);
        for (uint256 a = 0; a < 5; ++a) {
            reveals[a] = _reveal(a + 1, traceId, 0, _votesRange(0, 20, VALID));
        }
        _sortReveals(reveals);
        ledger.finalize(traceId, segmentLayout, reveals, _noAbsences());
        gasUsed = vm.lastCallGas().gasTotalUsed;
        emit log_named_uint("finalize transaction gas", gasUsed);
        (ILedger.TraceVerdict verdict,,,) = ledger.verdictOf(traceId);
        vm.assertEq(uint256(verdict), uint256(ILedger.TraceVerdict.SOUND), "sound");
    }

    /// forge-config: default.isolate = true
    function testFinalizeGasFirstTrace() public {
        vm.assertLe(_measure(keccak256("first")), FIRST_BOUND, "first trace: fresh reward slots");
    }

    /// forge-config: default.isolate = true
    function testFinalizeGasSteadyState() public {
        _measure(keccak256("warm-up"));
        vm.roll(block.number + 1);
        vm.assertLe(_measure(keccak256("second")), STEADY_BOUND, "auditors hold balances");
    }
}
