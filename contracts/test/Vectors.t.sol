// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Fixture} from "./utils/Fixture.sol";
import {ILedger} from "../src/interfaces/ILedger.sol";
import {Ledger} from "../src/Ledger.sol";
import {Registry} from "../src/Registry.sol";
import {Consensus} from "../src/libraries/Consensus.sol";

/// @notice Exposes the library's sortition predicate to the vector replay.
contract ConsensusHarness {
    function isAssigned(
        bytes32 seed,
        uint256 segment,
        address auditor,
        uint256 stake,
        uint256 tierStake,
        uint256 k
    ) external pure returns (bool) {
        return Consensus.isAssigned(seed, segment, auditor, stake, tierStake, k);
    }
}

/// @notice Replays vectors written by the Python specification (tests/vectors): the contracts
/// must agree with `protocol/` bit for bit.
contract VectorsTest is Fixture {
    /// @dev Anvil's first dev account; its first deployment lands at the vectors' ledger.
    address internal constant ANVIL_DEPLOYER = 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266;

    function testSortitionPredicateVector() public {
        string memory json = vm.readFile("tests/vectors/sortition/predicate.json");
        bytes32 seed = keccak256(
            abi.encode(
                vm.parseJsonBytes32(json, ".input.root"),
                vm.parseJsonBytes32(json, ".input.block_hash")
            )
        );
        vm.assertEq(seed, vm.parseJsonBytes32(json, ".post.seed"), "seed");
        ConsensusHarness harness = new ConsensusHarness();
        for (uint256 i = 0; i < 24; ++i) {
            string memory c = string.concat(".post.cases[", vm.toString(i), "]");
            bool assigned = harness.isAssigned(
                seed,
                vm.parseJsonUint(json, string.concat(c, ".segment")),
                vm.parseJsonAddress(json, string.concat(c, ".auditor")),
                vm.parseJsonUint(json, string.concat(c, ".stake")),
                vm.parseJsonUint(json, string.concat(c, ".tier_stake")),
                vm.parseJsonUint(json, string.concat(c, ".k"))
            );
            vm.assertTrue(
                assigned == vm.parseJsonBool(json, string.concat(c, ".assigned")),
                string.concat("case ", vm.toString(i))
            );
        }
    }

    /// @notice A reveal signed by protocol.votes for chain 31337 and the first Anvil deployment
    /// is accepted by the contract's EIP-712 verification (via slashEquivocation, which checks
    /// both signatures before anything else can pass).
    function testPythonSignedRevealVerifies() public {
        string memory json = vm.readFile("tests/vectors/eip712/votes-VIA.json");
        vm.chainId(vm.parseJsonUint(json, ".input.chain_id"));
        vm.warp(1_700_000_000);
        vm.roll(100);
        registry = new Registry(UNBONDING_DELAY);
        vm.prank(ANVIL_DEPLOYER);
        ledger = new Ledger(registry, MIN_FEE, DISPUTE_WINDOW);
        vm.assertEq(address(ledger), vm.parseJsonAddress(json, ".input.ledger"), "ledger address");
        registry.setLedger(address(ledger));
        _register(1, LLM, STAKE);

        ILedger.SignedReveal memory a = _vectorReveal(json);
        bytes32 digest = _revealDigest(
            vm.parseJsonBytes32(json, ".input.reveal.trace_id"), a, block.chainid, address(ledger)
        );
        vm.assertEq(digest, vm.parseJsonBytes32(json, ".post.reveal_digest"), "reveal digest");

        bytes32 traceId = vm.parseJsonBytes32(json, ".input.reveal.trace_id");
        _submit(traceId, 3, _stepsLayout(5));
        // A second, conflicting reveal by the same key (private key 2 in the vector).
        ILedger.SignedReveal memory b;
        b.auditor = a.auditor;
        b.votes = abi.encodePacked(uint32(0), INVALID, uint16(9000));
        b.salt = bytes32(uint256(7));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(
            vm.parseJsonUint(json, ".input.private_key"),
            _revealDigest(traceId, b, block.chainid, address(ledger))
        );
        b.signature = abi.encodePacked(r, s, v);
        vm.expectEmit();
        emit ILedger.EquivocationSlashed(traceId, a.auditor, 0, address(this), 0);
        ledger.slashEquivocation(traceId, a, b);
    }

    /// @dev The vector's reveal in calldata form: packed votes and the per-reveal rationales
    /// commitment, keccak256 of the per-vote rationale hashes in vote order.
    function _vectorReveal(string memory json) internal pure returns (ILedger.SignedReveal memory r) {
        r.auditor = vm.parseJsonAddress(json, ".input.reveal.auditor");
        r.round = uint8(vm.parseJsonUint(json, ".input.reveal.round"));
        r.salt = vm.parseJsonBytes32(json, ".input.reveal.salt");
        r.signature = vm.parseJsonBytes(json, ".input.reveal.signature");
        ILedger.VoteEntry[] memory votes = new ILedger.VoteEntry[](3);
        bytes memory rationales;
        for (uint256 i = 0; i < 3; ++i) {
            string memory p = string.concat(".input.reveal.votes[", vm.toString(i), "]");
            votes[i] = ILedger.VoteEntry({
                segment: uint32(vm.parseJsonUint(json, string.concat(p, ".segment"))),
                vote: uint8(vm.parseJsonUint(json, string.concat(p, ".vote"))),
                confidence: uint16(vm.parseJsonUint(json, string.concat(p, ".confidence")))
            });
            rationales = bytes.concat(
                rationales, vm.parseJsonBytes32(json, string.concat(p, ".rationale"))
            );
        }
        r.votes = _pack(votes);
        r.rationales = keccak256(rationales);
    }
}
