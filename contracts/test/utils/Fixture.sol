// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Vm} from "./Vm.sol";
import {ILedger} from "../../src/interfaces/ILedger.sol";
import {Ledger} from "../../src/Ledger.sol";
import {Registry} from "../../src/Registry.sol";

/// @notice Deployment, deterministic auditor keys, layouts, EIP-712 signing and an independent
/// sortition replica shared by the test suites. Digests are computed here from the type
/// strings, not through the contract, so a wrong hash in the contract fails the tests.
abstract contract Fixture {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    uint256 internal constant UNBONDING_DELAY = 14 days;
    uint256 internal constant DISPUTE_WINDOW = 3 days;
    uint256 internal constant MIN_FEE = 0.01 ether;
    uint256 internal constant FEE = 1 ether;
    uint256 internal constant STAKE = 10 ether;

    uint8 internal constant CHECKER = 1;
    uint8 internal constant LLM = 2;
    uint8 internal constant HUMAN = 4;

    uint8 internal constant ABSTAIN = 0;
    uint8 internal constant VALID = 1;
    uint8 internal constant INVALID = 2;

    uint8 internal constant GOAL = 1;
    uint8 internal constant STRATEGY = 2;
    uint8 internal constant TACTIC = 3;
    uint8 internal constant STEP = 4;
    uint8 internal constant OPERATION = 5;

    bytes32 internal constant DOMAIN_TYPEHASH = keccak256(
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    );
    bytes32 internal constant VOTE_TYPEHASH =
        keccak256("Vote(uint32 segment,uint8 vote,uint16 confidence)");
    bytes32 internal constant REVEAL_TYPEHASH = keccak256(
        "Reveal(bytes32 traceId,uint8 round,address auditor,Vote[] votes,bytes32 rationales,"
        "bytes32 salt)Vote(uint32 segment,uint8 vote,uint16 confidence)"
    );

    Registry internal registry;
    Ledger internal ledger;

    function _deploy() internal {
        vm.warp(1_700_000_000);
        vm.roll(100);
        registry = new Registry(UNBONDING_DELAY);
        ledger = new Ledger(registry, MIN_FEE, DISPUTE_WINDOW);
        registry.setLedger(address(ledger));
    }

    function _key(uint256 i) internal pure returns (uint256) {
        return 0xA0D17 + i;
    }

    function _auditor(uint256 i) internal pure returns (address) {
        return vm.addr(_key(i));
    }

    function _register(uint256 i, uint8 tierMask, uint256 stake) internal returns (address who) {
        who = _auditor(i);
        vm.deal(who, stake + 1 ether);
        vm.prank(who);
        registry.register{value: stake}(tierMask, bytes32(i + 1), abi.encodePacked("peer-", i));
    }

    /// @dev Registers auditors `first..first+count-1` in `tierMask` with STAKE each.
    function _registerMany(uint256 first, uint256 count, uint8 tierMask) internal {
        for (uint256 i = first; i < first + count; ++i) _register(i, tierMask, STAKE);
    }

    /// @dev A goal (pointing at step `lastStep`) followed by `steps` step segments 0..steps-1.
    function _stepsLayout(uint16 steps) internal pure returns (bytes memory segmentLayout) {
        segmentLayout = abi.encodePacked(GOAL, steps - 1);
        for (uint16 s = 0; s < steps; ++s) segmentLayout = bytes.concat(segmentLayout, abi.encodePacked(STEP, s));
    }

    function _submit(bytes32 traceId, uint16 k, bytes memory segmentLayout) internal returns (bytes32) {
        vm.roll(block.number + 1);
        return ledger.submitTrace{value: FEE}(traceId, keccak256(abi.encode(traceId)), k, segmentLayout);
    }

    function _vote(uint32 segment, uint8 value) internal pure returns (ILedger.VoteEntry memory) {
        return ILedger.VoteEntry({segment: segment, vote: value, confidence: 9000});
    }

    /// @dev Votes `value` on segments first..first+count-1.
    function _votesRange(uint32 first, uint32 count, uint8 value)
        internal
        pure
        returns (ILedger.VoteEntry[] memory votes)
    {
        votes = new ILedger.VoteEntry[](count);
        for (uint32 s = 0; s < count; ++s) votes[s] = _vote(first + s, value);
    }

    function _reveal(uint256 i, bytes32 traceId, uint8 round, ILedger.VoteEntry[] memory votes)
        internal
        view
        returns (ILedger.SignedReveal memory)
    {
        return _revealFor(i, traceId, round, votes, block.chainid, address(ledger));
    }

    function _revealFor(
        uint256 i,
        bytes32 traceId,
        uint8 round,
        ILedger.VoteEntry[] memory votes,
        uint256 chainId,
        address verifyingContract
    ) internal pure returns (ILedger.SignedReveal memory reveal) {
        reveal.auditor = _auditor(i);
        reveal.round = round;
        reveal.votes = _pack(votes);
        reveal.rationales = keccak256(abi.encode("rationales", i, round));
        reveal.salt = keccak256(abi.encode("salt", i, round));
        _sign(i, traceId, reveal, chainId, verifyingContract);
    }

    /// @dev (Re)signs `reveal` with auditor `i`'s key, for tests that edit a field first.
    function _sign(
        uint256 i,
        bytes32 traceId,
        ILedger.SignedReveal memory reveal,
        uint256 chainId,
        address verifyingContract
    ) internal pure {
        bytes32 digest = _revealDigest(traceId, reveal, chainId, verifyingContract);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(_key(i), digest);
        reveal.signature = abi.encodePacked(r, s, v);
    }

    /// @dev The on-chain packing of a vote vector: 7 big-endian bytes per vote.
    function _pack(ILedger.VoteEntry[] memory votes) internal pure returns (bytes memory packed) {
        for (uint256 i = 0; i < votes.length; ++i) {
            packed = bytes.concat(
                packed, abi.encodePacked(votes[i].segment, votes[i].vote, votes[i].confidence)
            );
        }
    }

    /// @dev Inverse of `_pack`, byte by byte (independent of the contract's word loads).
    function _unpack(bytes memory packed) internal pure returns (ILedger.VoteEntry[] memory votes) {
        votes = new ILedger.VoteEntry[](packed.length / 7);
        for (uint256 i = 0; i < votes.length; ++i) {
            uint256 o = i * 7;
            uint32 segment = (uint32(uint8(packed[o])) << 24) | (uint32(uint8(packed[o + 1])) << 16)
                | (uint32(uint8(packed[o + 2])) << 8) | uint32(uint8(packed[o + 3]));
            uint16 confidence = (uint16(uint8(packed[o + 5])) << 8) | uint16(uint8(packed[o + 6]));
            votes[i] = ILedger.VoteEntry(segment, uint8(packed[o + 4]), confidence);
        }
    }

    function _domainSeparator(uint256 chainId, address verifyingContract)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(
            abi.encode(
                DOMAIN_TYPEHASH,
                keccak256("TRUST Ledger"),
                keccak256("1"),
                chainId,
                verifyingContract
            )
        );
    }

    function _revealDigest(
        bytes32 traceId,
        ILedger.SignedReveal memory reveal,
        uint256 chainId,
        address verifyingContract
    ) internal pure returns (bytes32) {
        bytes memory hashes;
        ILedger.VoteEntry[] memory votes = _unpack(reveal.votes);
        for (uint256 i = 0; i < votes.length; ++i) {
            ILedger.VoteEntry memory v = votes[i];
            hashes = bytes.concat(
                hashes, keccak256(abi.encode(VOTE_TYPEHASH, v.segment, v.vote, v.confidence))
            );
        }
        bytes32 structHash = keccak256(
            abi.encode(
                REVEAL_TYPEHASH,
                traceId,
                reveal.round,
                reveal.auditor,
                keccak256(hashes),
                reveal.rationales,
                reveal.salt
            )
        );
        return keccak256(
            abi.encodePacked(
                "\x19\x01", _domainSeparator(chainId, verifyingContract), structHash
            )
        );
    }

    /// @dev Independent replica of protocol.sortition.is_assigned.
    function _isAssigned(
        bytes32 seed,
        uint256 segment,
        address auditor,
        uint256 stake,
        uint256 tierStake,
        uint256 k
    ) internal pure returns (bool) {
        if (stake == 0 || tierStake == 0) return false;
        uint256 h = uint256(keccak256(abi.encode(seed, segment, auditor)));
        return (h >> 128) * tierStake < (k * stake) << 128;
    }

    function _noReveals() internal pure returns (ILedger.SignedReveal[] memory) {
        return new ILedger.SignedReveal[](0);
    }

    function _noAbsences() internal pure returns (ILedger.Absence[] memory) {
        return new ILedger.Absence[](0);
    }

    /// @dev Reveals of auditors `ids` (must be sorted by address by the caller) in one round.
    function _one(ILedger.SignedReveal memory r)
        internal
        pure
        returns (ILedger.SignedReveal[] memory reveals)
    {
        reveals = new ILedger.SignedReveal[](1);
        reveals[0] = r;
    }

    /// @dev Sorts reveals by (round, auditor) in place (insertion sort: test sizes are tiny).
    function _sortReveals(ILedger.SignedReveal[] memory reveals) internal pure {
        for (uint256 i = 1; i < reveals.length; ++i) {
            ILedger.SignedReveal memory item = reveals[i];
            uint256 key = _pkey(item.round, item.auditor);
            uint256 j = i;
            while (j > 0 && _pkey(reveals[j - 1].round, reveals[j - 1].auditor) > key) {
                reveals[j] = reveals[j - 1];
                --j;
            }
            reveals[j] = item;
        }
    }

    function _pkey(uint8 round, address auditor) internal pure returns (uint256) {
        return (uint256(round) << 160) | uint160(auditor);
    }

    /// @dev The sorted participant keys of a report, as finalize hashes them.
    function _participants(ILedger.SignedReveal[] memory reveals, ILedger.Absence[] memory absences)
        internal
        pure
        returns (uint256[] memory keys)
    {
        keys = new uint256[](reveals.length + absences.length);
        for (uint256 i = 0; i < reveals.length; ++i) {
            keys[i] = _pkey(reveals[i].round, reveals[i].auditor);
        }
        for (uint256 i = 0; i < absences.length; ++i) {
            keys[reveals.length + i] = _pkey(absences[i].round, absences[i].auditor);
        }
        for (uint256 i = 1; i < keys.length; ++i) {
            uint256 item = keys[i];
            uint256 j = i;
            while (j > 0 && keys[j - 1] > item) {
                keys[j] = keys[j - 1];
                --j;
            }
            keys[j] = item;
        }
    }
}
