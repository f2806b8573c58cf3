// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Fixture} from "./utils/Fixture.sol";
import {ILedger} from "../src/interfaces/ILedger.sol";
import {IRegistry} from "../src/interfaces/IRegistry.sol";
import {Ledger} from "../src/Ledger.sol";
import {Registry} from "../src/Registry.sol";

/// @notice Drives the registry and ledger with random stake moves, time jumps, whole audits
/// (random votes, absences and omissions) and withdrawals, keeping ghost totals and an
/// independent model of every segment verdict.
contract Handler is Fixture {
    uint256 internal constant ACTORS = 6;

    uint256 public deposits;
    uint256 public stakeWithdrawn;
    uint256 public fees;
    uint256 public rewardsWithdrawn;
    uint256 public traces;
    bool public earlyWithdrawal;
    bool public doubleFinalization;
    bool public verdictMismatch;

    constructor(Registry registry_, Ledger ledger_) {
        registry = registry_;
        ledger = ledger_;
        for (uint256 i = 1; i <= ACTORS; ++i) {
            _register(i, LLM, STAKE);
            deposits += STAKE;
        }
    }

    function _actor(uint256 seed) internal pure returns (uint256) {
        return 1 + seed % ACTORS;
    }

    function addStake(uint256 seed, uint256 amount) external {
        amount = 1 + amount % 5 ether;
        address who = _auditor(_actor(seed));
        vm.deal(who, amount);
        vm.prank(who);
        registry.addStake{value: amount}();
        deposits += amount;
    }

    function requestUnbonding(uint256 seed, uint256 amount) external {
        address who = _auditor(_actor(seed));
        uint256 stake = registry.stakeOf(who);
        if (stake == 0) return;
        vm.prank(who);
        registry.requestUnbonding(1 + amount % stake);
    }

    function withdraw(uint256 seed) external {
        address who = _auditor(_actor(seed));
        IRegistry.AuditorInfo memory info = registry.auditorInfo(who);
        if (info.unbonding == 0) return;
        vm.prank(who);
        try registry.withdraw() {
            if (block.timestamp < info.unbondingReadyAt) earlyWithdrawal = true;
            stakeWithdrawn += info.unbonding;
        } catch {}
    }

    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + seconds_ % 20 days);
        vm.roll(block.number + 1);
    }

    function withdrawRewards(uint256 seed) external {
        address who = _auditor(_actor(seed));
        uint256 amount = ledger.rewardsOf(who);
        if (amount == 0) return;
        vm.prank(who);
        ledger.withdrawRewards();
        rewardsWithdrawn += amount;
    }

    /// @dev Submits a trace and finalizes it: each drawn auditor reveals a random vote on its
    /// segments, is listed absent, or is left out (quorum counts only what is listed).
    function audit(uint256 seed) external {
        bytes32 traceId = keccak256(abi.encode("trace", ++traces));
        uint16 steps = uint16(1 + seed % 4);
        bytes memory segmentLayout = _stepsLayout(steps);
        vm.roll(block.number + 1);
        bytes32 seed_ = ledger.submitTrace{value: FEE}(traceId, bytes32(seed), uint16(1 + seed % 6), segmentLayout);
        vm.deal(address(this), FEE);
        fees += FEE;
        uint256 count = uint256(steps) + 1;
        uint256[] memory sums = new uint256[](count * 4);
        (ILedger.SignedReveal[] memory reveals, ILedger.Absence[] memory absences) =
            _report(traceId, seed_, count, seed, sums);
        try ledger.finalize(traceId, segmentLayout, reveals, absences) {
            _checkVerdicts(traceId, count, sums);
        } catch {
            verdictMismatch = true;
        }
        try ledger.finalize(traceId, segmentLayout, reveals, absences) {
            doubleFinalization = true;
        } catch {}
    }

    struct Draft {
        bytes32 traceId;
        bytes32 seed;
        uint256 count;
        uint256 rand;
        uint256 tierStake;
        uint256 snapshot;
        uint256 k;
        uint256 nr;
        uint256 na;
    }

    function _report(bytes32 traceId, bytes32 seed_, uint256 count, uint256 seed, uint256[] memory sums)
        internal
        view
        returns (ILedger.SignedReveal[] memory reveals, ILedger.Absence[] memory absences)
    {
        ILedger.TraceRecord memory record = ledger.traceOf(traceId);
        Draft memory d = Draft({
            traceId: traceId,
            seed: seed_,
            count: count,
            rand: seed,
            tierStake: registry.tierStakeAt(1, record.snapshotBlock),
            snapshot: record.snapshotBlock,
            k: record.k,
            nr: 0,
            na: 0
        });
        reveals = new ILedger.SignedReveal[](ACTORS);
        absences = new ILedger.Absence[](ACTORS);
        for (uint256 a = 1; a <= ACTORS; ++a) _addAuditor(d, a, sums, reveals, absences);
        (uint256 nr, uint256 na) = (d.nr, d.na);
        assembly {
            mstore(reveals, nr)
            mstore(absences, na)
        }
        _sortReveals(reveals);
        _sortAbsences(absences);
    }

    function _addAuditor(
        Draft memory d,
        uint256 a,
        uint256[] memory sums,
        ILedger.SignedReveal[] memory reveals,
        ILedger.Absence[] memory absences
    ) internal view {
        uint256 stake = registry.stakeAt(_auditor(a), d.snapshot);
        uint32[] memory mine = _drawn(d.seed, d.count, a, stake, d.tierStake, d.k);
        if (mine.length == 0) return;
        uint256 mode = uint256(keccak256(abi.encode(d.rand, a))) % 4;
        if (mode == 3) return; // omitted from the report
        if (mode == 2) {
            absences[d.na++] = ILedger.Absence({auditor: _auditor(a), round: 0, segments: mine});
            for (uint256 i = 0; i < mine.length; ++i) sums[mine[i] * 4 + 3] += stake;
            return;
        }
        ILedger.VoteEntry[] memory votes = new ILedger.VoteEntry[](mine.length);
        for (uint256 i = 0; i < mine.length; ++i) {
            uint8 value = uint8(uint256(keccak256(abi.encode(d.rand, a, i))) % 3);
            votes[i] = _vote(mine[i], value);
            sums[mine[i] * 4 + value] += stake;
        }
        reveals[d.nr++] = _reveal(a, d.traceId, 0, votes);
    }

    function _drawn(bytes32 seed_, uint256 count, uint256 a, uint256 stake, uint256 tierStake, uint256 k)
        internal
        pure
        returns (uint32[] memory mine)
    {
        mine = new uint32[](count);
        uint256 n = 0;
        for (uint256 s = 0; s < count; ++s) {
            if (_isAssigned(seed_, s, _auditor(a), stake, tierStake, k)) mine[n++] = uint32(s);
        }
        assembly {
            mstore(mine, n)
        }
    }

    function _sortAbsences(ILedger.Absence[] memory absences) internal pure {
        for (uint256 i = 1; i < absences.length; ++i) {
            ILedger.Absence memory item = absences[i];
            uint256 j = i;
            while (j > 0 && absences[j - 1].auditor > item.auditor) {
                absences[j] = absences[j - 1];
                --j;
            }
            absences[j] = item;
        }
    }

    /// @dev Independent model: quorum `revealed * 2 >= assigned`, 2/3 supermajority. Round 1
    /// never gets reveals here, so an unresolved round 0 stays unresolved.
    function _checkVerdicts(bytes32 traceId, uint256 count, uint256[] memory sums) internal {
        (,, bytes memory verdicts,) = ledger.verdictOf(traceId);
        for (uint256 s = 0; s < count; ++s) {
            uint256 revealed = sums[s * 4] + sums[s * 4 + 1] + sums[s * 4 + 2];
            uint256 assigned = revealed + sums[s * 4 + 3];
            uint256 expected = 0;
            if (revealed > 0 && revealed * 2 >= assigned) {
                if (sums[s * 4 + 1] * 3 >= revealed * 2) expected = 1;
                else if (sums[s * 4 + 2] * 3 >= revealed * 2) expected = 2;
            }
            if (uint8(verdicts[s]) != expected) verdictMismatch = true;
        }
    }

    function sumOfStakes() external view returns (uint256 total) {
        for (uint256 a = 1; a <= ACTORS; ++a) {
            total += registry.slashableOf(_auditor(a));
        }
    }

    function sumOfRewards() external view returns (uint256 total) {
        for (uint256 a = 1; a <= ACTORS; ++a) {
            total += ledger.rewardsOf(_auditor(a));
        }
    }

    receive() external payable {}
}

contract InvariantsTest is Fixture {
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    Handler internal handler;

    function setUp() public {
        _deploy();
        handler = new Handler(registry, ledger);
        vm.deal(address(handler), 1000 ether);
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function targetSelectors() public view returns (FuzzSelector[] memory selectors) {
        bytes4[] memory list = new bytes4[](7);
        list[0] = Handler.addStake.selector;
        list[1] = Handler.requestUnbonding.selector;
        list[2] = Handler.withdraw.selector;
        list[3] = Handler.warp.selector;
        list[4] = Handler.withdrawRewards.selector;
        list[5] = Handler.audit.selector;
        list[6] = Handler.audit.selector;
        selectors = new FuzzSelector[](1);
        selectors[0] = FuzzSelector({addr: address(handler), selectors: list});
    }

    /// @notice The registry holds exactly every auditor's active plus unbonding stake.
    function invariantRegistryHoldsAllStake() public view {
        vm.assertEq(address(registry).balance, handler.sumOfStakes(), "registry balance");
    }

    /// @notice ETH is conserved across both contracts: what the registry lost beyond
    /// withdrawals went to the ledger, which holds fees plus slashes minus paid rewards.
    function invariantLedgerConservation() public view {
        uint256 slashed =
            handler.deposits() - handler.stakeWithdrawn() - address(registry).balance;
        vm.assertEq(
            address(ledger).balance,
            handler.fees() + slashed - handler.rewardsWithdrawn(),
            "ledger balance"
        );
        vm.assertGe(address(ledger).balance, handler.sumOfRewards(), "rewards are covered");
    }

    /// @notice Every VALID/INVALID segment met quorum and supermajority in the model.
    function invariantNoVerdictWithoutQuorum() public view {
        vm.assertFalse(handler.verdictMismatch(), "verdict differs from the model");
    }

    function invariantNoDoubleFinalization() public view {
        vm.assertFalse(handler.doubleFinalization(), "finalized twice");
    }

    function invariantNoWithdrawalBeforeTheDelay() public view {
        vm.assertFalse(handler.earlyWithdrawal(), "early withdrawal");
    }
}
