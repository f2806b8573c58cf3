// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Fixture} from "./utils/Fixture.sol";
import {IRegistry} from "../src/interfaces/IRegistry.sol";
import {Registry} from "../src/Registry.sol";
import {Ledger} from "../src/Ledger.sol";

contract RegistryTest is Fixture {
    address internal alice;

    function setUp() public {
        _deploy();
        alice = _auditor(1);
        vm.deal(alice, 1000 ether);
    }

    function testRegisterRecordsStakeTiersAndKeys() public {
        vm.expectEmit();
        emit IRegistry.AuditorRegistered(alice, LLM | HUMAN, bytes32(uint256(7)), "peer", 3 ether);
        vm.prank(alice);
        registry.register{value: 3 ether}(LLM | HUMAN, bytes32(uint256(7)), "peer");
        IRegistry.AuditorInfo memory info = registry.auditorInfo(alice);
        vm.assertEq(info.stake, 3 ether, "stake");
        vm.assertEq(uint256(info.tierMask), LLM | HUMAN, "tiers");
        vm.assertEq(info.x25519Key, bytes32(uint256(7)), "x25519 key");
        vm.assertEq(info.peerId, bytes("peer"), "peer id");
        vm.assertEq(registry.stakeOf(alice), 3 ether, "stakeOf");
        vm.assertEq(uint256(registry.tiersOf(alice)), LLM | HUMAN, "tiersOf");
        vm.roll(block.number + 1);
        uint256 previous = block.number - 1;
        vm.assertEq(registry.stakeAt(alice, previous), 3 ether, "stakeAt");
        vm.assertEq(registry.tierStakeAt(0, previous), 0, "checker tier");
        vm.assertEq(registry.tierStakeAt(1, previous), 3 ether, "llm tier");
        vm.assertEq(registry.tierStakeAt(2, previous), 3 ether, "human tier counts it too");
        vm.assertEq(registry.stakeAt(alice, previous - 1), 0, "before registration");
    }

    function testRegisterRejectsBadInput() public {
        vm.startPrank(alice);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.InvalidTierMask.selector, uint8(0)));
        registry.register{value: 1 ether}(0, bytes32(uint256(1)), "p");
        vm.expectRevert(abi.encodeWithSelector(IRegistry.InvalidTierMask.selector, uint8(8)));
        registry.register{value: 1 ether}(8, bytes32(uint256(1)), "p");
        vm.expectRevert(IRegistry.InvalidAuditorKeys.selector);
        registry.register{value: 1 ether}(LLM, bytes32(0), "p");
        vm.expectRevert(IRegistry.InvalidAuditorKeys.selector);
        registry.register{value: 1 ether}(LLM, bytes32(uint256(1)), "");
        vm.expectRevert(IRegistry.ZeroAmount.selector);
        registry.register{value: 0}(LLM, bytes32(uint256(1)), "p");
        registry.register{value: 1 ether}(LLM, bytes32(uint256(1)), "p");
        vm.expectRevert(abi.encodeWithSelector(IRegistry.AlreadyRegistered.selector, alice));
        registry.register{value: 1 ether}(HUMAN, bytes32(uint256(1)), "p");
        vm.stopPrank();
    }

    function testStakeBoundIs2To96() public {
        uint256 tooMuch = uint256(type(uint96).max) + 1;
        vm.deal(alice, tooMuch + 1 ether);
        vm.startPrank(alice);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.StakeTooLarge.selector, tooMuch));
        registry.register{value: tooMuch}(LLM, bytes32(uint256(1)), "p");
        registry.register{value: tooMuch - 1}(LLM, bytes32(uint256(1)), "p");
        vm.expectRevert(abi.encodeWithSelector(IRegistry.StakeTooLarge.selector, tooMuch));
        registry.addStake{value: 1}();
        vm.stopPrank();
    }

    function testAddStake() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.NotRegistered.selector, alice));
        registry.addStake{value: 1 ether}();
        _register(1, CHECKER | LLM, 2 ether);
        vm.prank(alice);
        vm.expectRevert(IRegistry.ZeroAmount.selector);
        registry.addStake{value: 0}();
        vm.roll(block.number + 1);
        vm.expectEmit();
        emit IRegistry.StakeAdded(alice, 1 ether, 3 ether);
        vm.prank(alice);
        registry.addStake{value: 1 ether}();
        vm.assertEq(registry.stakeOf(alice), 3 ether, "stake");
        vm.assertEq(registry.stakeAt(alice, block.number - 1), 2 ether, "history keeps the past");
        vm.assertEq(registry.tierStakeAt(0, block.number), 3 ether, "checker tier now");
        vm.assertEq(registry.tierStakeAt(1, block.number), 3 ether, "llm tier now");
    }

    function testUnbondingLeavesActiveStakeAtOnce() public {
        _register(1, LLM, 5 ether);
        vm.roll(block.number + 1);
        uint256 readyAt = block.timestamp + UNBONDING_DELAY;
        vm.expectEmit();
        emit IRegistry.UnbondingRequested(alice, 2 ether, 2 ether, uint64(readyAt));
        vm.prank(alice);
        registry.requestUnbonding(2 ether);
        vm.assertEq(registry.stakeOf(alice), 3 ether, "active");
        vm.assertEq(registry.tierStakeAt(1, block.number), 3 ether, "tier now");
        vm.assertEq(registry.tierStakeAt(1, block.number - 1), 5 ether, "tier before");
        IRegistry.AuditorInfo memory info = registry.auditorInfo(alice);
        vm.assertEq(info.unbonding, 2 ether, "unbonding");
        vm.assertEq(uint256(info.unbondingReadyAt), readyAt, "ready at");
        vm.assertEq(registry.slashableOf(alice), 5 ether, "slashable keeps unbonding");
    }

    function testUnbondingRejectsBadInput() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.NotRegistered.selector, alice));
        registry.requestUnbonding(1);
        _register(1, LLM, 5 ether);
        vm.startPrank(alice);
        vm.expectRevert(IRegistry.ZeroAmount.selector);
        registry.requestUnbonding(0);
        vm.expectRevert(
            abi.encodeWithSelector(IRegistry.InsufficientStake.selector, 6 ether, 5 ether)
        );
        registry.requestUnbonding(6 ether);
        vm.stopPrank();
    }

    function testWithdrawOnlyAfterDelay() public {
        _register(1, LLM, 5 ether);
        vm.startPrank(alice);
        vm.expectRevert(IRegistry.NothingToWithdraw.selector);
        registry.withdraw();
        registry.requestUnbonding(2 ether);
        uint64 readyAt = uint64(block.timestamp + UNBONDING_DELAY);
        vm.warp(readyAt - 1);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.UnbondingNotReady.selector, readyAt));
        registry.withdraw();
        vm.warp(readyAt);
        uint256 before = alice.balance;
        vm.expectEmit();
        emit IRegistry.StakeWithdrawn(alice, 2 ether);
        registry.withdraw();
        vm.assertEq(alice.balance - before, 2 ether, "paid out");
        vm.assertEq(address(registry).balance, 3 ether, "rest stays");
        vm.expectRevert(IRegistry.NothingToWithdraw.selector);
        registry.withdraw();
        vm.stopPrank();
    }

    function testNewRequestRestartsTheDelay() public {
        _register(1, LLM, 5 ether);
        vm.startPrank(alice);
        registry.requestUnbonding(1 ether);
        vm.warp(block.timestamp + UNBONDING_DELAY - 1);
        registry.requestUnbonding(1 ether);
        vm.warp(block.timestamp + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IRegistry.UnbondingNotReady.selector, uint64(block.timestamp + UNBONDING_DELAY - 1)
            )
        );
        registry.withdraw();
        vm.stopPrank();
    }

    function testSlashOnlyByLedger() public {
        _register(1, LLM, 5 ether);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.NotLedger.selector, address(this)));
        registry.slash(alice, 1 ether);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.NotLedger.selector, alice));
        registry.slash(alice, 1 ether);
    }

    function testSlashTakesActiveThenUnbondingAndPaysTheLedger() public {
        _register(1, LLM, 5 ether);
        vm.prank(alice);
        registry.requestUnbonding(2 ether);
        vm.prank(address(ledger));
        vm.expectRevert(IRegistry.ZeroAmount.selector);
        registry.slash(alice, 0);
        vm.expectEmit();
        emit IRegistry.AuditorSlashed(alice, 4 ether, 4 ether);
        vm.prank(address(ledger));
        uint256 taken = registry.slash(alice, 4 ether);
        vm.assertEq(taken, 4 ether, "taken");
        vm.assertEq(registry.stakeOf(alice), 0, "active emptied first");
        vm.assertEq(registry.auditorInfo(alice).unbonding, 1 ether, "then unbonding");
        vm.assertEq(address(ledger).balance, 4 ether, "ledger got the ETH");
        vm.assertEq(registry.tierStakeAt(1, block.number), 0, "tier stake follows");
        vm.prank(address(ledger));
        taken = registry.slash(alice, 5 ether);
        vm.assertEq(taken, 1 ether, "capped at what is left");
        vm.assertEq(address(registry).balance, 0, "registry drained");
    }

    function testSetLedgerOnceByDeployerWithLongerUnbonding() public {
        Registry fresh = new Registry(1 days);
        Ledger tooLong = new Ledger(fresh, MIN_FEE, 1 days);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.NotDeployer.selector, alice));
        fresh.setLedger(address(tooLong));
        vm.expectRevert(
            abi.encodeWithSelector(IRegistry.UnbondingTooShort.selector, 1 days, 1 days)
        );
        fresh.setLedger(address(tooLong));
        Ledger ok = new Ledger(fresh, MIN_FEE, 1 days - 1);
        vm.expectEmit();
        emit IRegistry.LedgerSet(address(ok));
        fresh.setLedger(address(ok));
        vm.assertEq(fresh.ledger(), address(ok), "bound");
        vm.assertEq(fresh.unbondingDelay(), 1 days, "delay");
        vm.expectRevert(IRegistry.LedgerAlreadySet.selector);
        fresh.setLedger(address(ok));
    }

    function testHistoryViewsRejectFutureBlocksAndBadTiers() public {
        uint256 future = block.number + 1;
        vm.expectRevert(
            abi.encodeWithSelector(IRegistry.FutureLookup.selector, future, block.number)
        );
        registry.stakeAt(alice, future);
        vm.expectRevert(
            abi.encodeWithSelector(IRegistry.FutureLookup.selector, future, block.number)
        );
        registry.tierStakesAt(future);
        vm.expectRevert(
            abi.encodeWithSelector(IRegistry.FutureLookup.selector, future, block.number)
        );
        registry.stakeAndTiersAt(alice, future);
        address[] memory one = new address[](1);
        one[0] = alice;
        vm.expectRevert(
            abi.encodeWithSelector(IRegistry.FutureLookup.selector, future, block.number)
        );
        registry.stakesAndTiersAt(one, future);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.InvalidTier.selector, uint8(3)));
        registry.tierStakeAt(3, block.number);
    }

    function testStakesAndTiersAtMatchesTheSingleView() public {
        address bob = _auditor(2);
        address stranger = _auditor(3);
        vm.deal(bob, 10 ether);
        vm.prank(alice);
        registry.register{value: 3 ether}(LLM | HUMAN, bytes32(uint256(1)), "a");
        uint256 first = block.number;
        vm.roll(first + 1);
        vm.prank(bob);
        registry.register{value: 5 ether}(CHECKER, bytes32(uint256(2)), "b");
        vm.prank(alice);
        registry.addStake{value: 1 ether}();
        vm.roll(first + 2);
        address[] memory who = new address[](3);
        (who[0], who[1], who[2]) = (alice, bob, stranger);
        for (uint256 at = first; at <= first + 1; ++at) {
            (uint256[] memory stakes, uint8[] memory masks) = registry.stakesAndTiersAt(who, at);
            vm.assertEq(stakes.length, 3, "one stake per auditor");
            for (uint256 i = 0; i < 3; ++i) {
                (uint256 stake, uint8 mask) = registry.stakeAndTiersAt(who[i], at);
                vm.assertEq(stakes[i], stake, "stake");
                vm.assertEq(uint256(masks[i]), uint256(mask), "tiers");
            }
        }
        (uint256[] memory none,) = registry.stakesAndTiersAt(new address[](0), first);
        vm.assertEq(none.length, 0, "empty query");
    }

    function testFuzzStakeHistory(uint96 first, uint96 second, uint96 unbond) public {
        vm.assume(first > 0 && second > 0);
        vm.assume(uint256(first) + second <= type(uint96).max);
        vm.assume(unbond > 0 && unbond <= uint256(first) + second);
        vm.deal(alice, uint256(first) + second);
        vm.prank(alice);
        registry.register{value: first}(CHECKER | HUMAN, bytes32(uint256(1)), "p");
        uint256 b0 = block.number;
        vm.roll(b0 + 1);
        vm.prank(alice);
        registry.addStake{value: second}();
        vm.roll(b0 + 2);
        vm.prank(alice);
        registry.requestUnbonding(unbond);
        vm.assertEq(registry.stakeAt(alice, b0), first, "block 0");
        vm.assertEq(registry.stakeAt(alice, b0 + 1), uint256(first) + second, "block 1");
        vm.assertEq(registry.stakeAt(alice, b0 + 2), uint256(first) + second - unbond, "block 2");
        uint256[3] memory tiers = registry.tierStakesAt(b0 + 1);
        vm.assertEq(tiers[0], uint256(first) + second, "checker");
        vm.assertEq(tiers[1], 0, "llm");
        vm.assertEq(tiers[2], uint256(first) + second, "human");
        vm.assertEq(address(registry).balance, uint256(first) + second, "balance");
    }
}
