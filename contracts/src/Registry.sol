// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {IRegistry} from "./interfaces/IRegistry.sol";
import {ILedger} from "./interfaces/ILedger.sol";

/// @title Registry
/// @notice Auditors' stake, tiers and keys, with a checkpointed stake history per auditor and
/// per tier so committees are drawn from a fixed snapshot.
/// @dev All ETH held is active or unbonding stake: `balance == sum(stake + unbonding)`.
contract Registry is IRegistry {
    using Checkpoints for Checkpoints.Trace208;

    /// @dev Sortition multiplies stake by k < 2**16 and shifts by 128: stake must stay < 2**96.
    uint256 private constant _MAX_STAKE = type(uint96).max;
    /// @dev Sortition multiplies a tier stake by a 128-bit number: it must stay < 2**128.
    uint256 private constant _MAX_TIER_STAKE = type(uint128).max;
    uint8 private constant _ALL_TIERS = 0x07;
    uint256 private constant _TIER_COUNT = 3;

    /// @dev One slot for everything `slash` and the stake views touch. `changedAt` is the block
    /// of the last active-stake change: for any later block the current stake is the historical
    /// one, so most lookups cost this one slot instead of a checkpoint search.
    struct Record {
        uint96 stake;
        uint96 unbonding;
        uint8 tierMask;
        uint48 changedAt;
        uint64 unbondingReadyAt;
        bytes32 x25519Key;
        bytes peerId;
    }

    /// @dev Current total of one tier and the block it last changed (same fast path).
    struct TierTotal {
        uint208 stake;
        uint48 changedAt;
    }

    address private immutable _deployer;
    uint256 private immutable _unbondingDelay;
    address private _ledger;

    mapping(address auditor => Record) private _records;
    mapping(address auditor => Checkpoints.Trace208) private _stakeHistory;
    Checkpoints.Trace208[3] private _tierHistory;
    TierTotal[3] private _tierTotals;

    /// @param unbondingDelay_ Seconds an unbonding request waits; must exceed the ledger's
    /// dispute window (checked by `setLedger`).
    constructor(uint256 unbondingDelay_) {
        _deployer = msg.sender;
        _unbondingDelay = unbondingDelay_;
    }

    /// @inheritdoc IRegistry
    function register(uint8 tierMask, bytes32 x25519Key, bytes calldata peerId)
        external
        payable
    {
        Record storage record = _records[msg.sender];
        if (record.tierMask != 0) revert AlreadyRegistered(msg.sender);
        if (tierMask == 0 || tierMask & ~_ALL_TIERS != 0) revert InvalidTierMask(tierMask);
        if (x25519Key == bytes32(0) || peerId.length == 0) revert InvalidAuditorKeys();
        if (msg.value == 0) revert ZeroAmount();
        if (msg.value > _MAX_STAKE) revert StakeTooLarge(msg.value);
        record.tierMask = tierMask;
        record.x25519Key = x25519Key;
        record.peerId = peerId;
        _setStake(msg.sender, record, msg.value);
        emit AuditorRegistered(msg.sender, tierMask, x25519Key, peerId, msg.value);
    }

    /// @inheritdoc IRegistry
    function addStake() external payable {
        Record storage record = _records[msg.sender];
        if (record.tierMask == 0) revert NotRegistered(msg.sender);
        if (msg.value == 0) revert ZeroAmount();
        uint256 stake = record.stake + msg.value;
        if (stake > _MAX_STAKE) revert StakeTooLarge(stake);
        _setStake(msg.sender, record, stake);
        emit StakeAdded(msg.sender, msg.value, stake);
    }

    /// @inheritdoc IRegistry
    /// @dev A new request restarts the delay for everything unbonding.
    function requestUnbonding(uint256 amount) external {
        Record storage record = _records[msg.sender];
        if (record.tierMask == 0) revert NotRegistered(msg.sender);
        if (amount == 0) revert ZeroAmount();
        uint256 stake = record.stake;
        if (amount > stake) revert InsufficientStake(amount, stake);
        uint256 unbonding = record.unbonding + amount;
        if (unbonding > _MAX_STAKE) revert StakeTooLarge(unbonding);
        uint64 readyAt = uint64(block.timestamp + _unbondingDelay);
        record.unbonding = uint96(unbonding);
        record.unbondingReadyAt = readyAt;
        _setStake(msg.sender, record, stake - amount);
        emit UnbondingRequested(msg.sender, amount, unbonding, readyAt);
    }

    /// @inheritdoc IRegistry
    function withdraw() external {
        Record storage record = _records[msg.sender];
        uint256 amount = record.unbonding;
        if (amount == 0) revert NothingToWithdraw();
        if (block.timestamp < record.unbondingReadyAt) {
            revert UnbondingNotReady(record.unbondingReadyAt);
        }
        record.unbonding = 0;
        emit StakeWithdrawn(msg.sender, amount);
        Address.sendValue(payable(msg.sender), amount);
    }

    /// @inheritdoc IRegistry
    function slash(address auditor, uint256 amount) external returns (uint256 taken) {
        address ledger_ = _ledger;
        if (msg.sender != ledger_ || ledger_ == address(0)) revert NotLedger(msg.sender);
        if (amount == 0) revert ZeroAmount();
        Record storage record = _records[auditor];
        uint256 stake = record.stake;
        uint256 fromStake = amount < stake ? amount : stake;
        uint256 unbonding = record.unbonding;
        uint256 rest = amount - fromStake;
        uint256 fromUnbonding = rest < unbonding ? rest : unbonding;
        taken = fromStake + fromUnbonding;
        if (fromUnbonding != 0) record.unbonding = uint96(unbonding - fromUnbonding);
        if (fromStake != 0) _setStake(auditor, record, stake - fromStake);
        emit AuditorSlashed(auditor, amount, taken);
        if (taken != 0) Address.sendValue(payable(ledger_), taken);
    }

    /// @inheritdoc IRegistry
    function setLedger(address ledger_) external {
        if (msg.sender != _deployer) revert NotDeployer(msg.sender);
        if (_ledger != address(0)) revert LedgerAlreadySet();
        uint256 window = ILedger(ledger_).disputeWindow();
        if (_unbondingDelay <= window) revert UnbondingTooShort(_unbondingDelay, window);
        _ledger = ledger_;
        emit LedgerSet(ledger_);
    }

    /// @inheritdoc IRegistry
    function ledger() external view returns (address) {
        return _ledger;
    }

    /// @inheritdoc IRegistry
    function unbondingDelay() external view returns (uint256) {
        return _unbondingDelay;
    }

    /// @inheritdoc IRegistry
    function stakeAt(address auditor, uint256 blockNumber) external view returns (uint256) {
        (uint256 stake,) = _stakeAndTiersAt(auditor, blockNumber);
        return stake;
    }

    /// @inheritdoc IRegistry
    function stakeAndTiersAt(address auditor, uint256 blockNumber)
        external
        view
        returns (uint256 stake, uint8 tierMask)
    {
        return _stakeAndTiersAt(auditor, blockNumber);
    }

    /// @inheritdoc IRegistry
    function stakesAndTiersAt(address[] calldata auditors, uint256 blockNumber)
        external
        view
        returns (uint256[] memory stakes, uint8[] memory tierMasks)
    {
        stakes = new uint256[](auditors.length);
        tierMasks = new uint8[](auditors.length);
        for (uint256 i = 0; i < auditors.length; ++i) {
            (stakes[i], tierMasks[i]) = _stakeAndTiersAt(auditors[i], blockNumber);
        }
    }

    /// @inheritdoc IRegistry
    function tierStakeAt(uint8 tier, uint256 blockNumber) external view returns (uint256) {
        if (tier >= _TIER_COUNT) revert InvalidTier(tier);
        _checkPast(blockNumber);
        return _tierStakeAt(tier, blockNumber);
    }

    /// @inheritdoc IRegistry
    function tierStakesAt(uint256 blockNumber) external view returns (uint256[3] memory stakes) {
        _checkPast(blockNumber);
        for (uint256 tier = 0; tier < _TIER_COUNT; ++tier) {
            stakes[tier] = _tierStakeAt(tier, blockNumber);
        }
    }

    /// @inheritdoc IRegistry
    function stakeOf(address auditor) external view returns (uint256) {
        return _records[auditor].stake;
    }

    /// @inheritdoc IRegistry
    function tiersOf(address auditor) external view returns (uint8) {
        return _records[auditor].tierMask;
    }

    /// @inheritdoc IRegistry
    function slashableOf(address auditor) external view returns (uint256) {
        Record storage record = _records[auditor];
        return uint256(record.stake) + record.unbonding;
    }

    /// @inheritdoc IRegistry
    function auditorInfo(address auditor) external view returns (AuditorInfo memory) {
        Record storage record = _records[auditor];
        return AuditorInfo({
            x25519Key: record.x25519Key,
            peerId: record.peerId,
            tierMask: record.tierMask,
            stake: record.stake,
            unbonding: record.unbonding,
            unbondingReadyAt: record.unbondingReadyAt
        });
    }

    /// @dev Sets the active stake and checkpoints it for the auditor and each of its tiers.
    function _setStake(address auditor, Record storage record, uint256 stake) private {
        uint256 previous = record.stake;
        uint48 key = uint48(block.number);
        record.stake = uint96(stake);
        record.changedAt = key;
        _stakeHistory[auditor].push(key, uint208(stake));
        uint8 mask = record.tierMask;
        for (uint256 tier = 0; tier < _TIER_COUNT; ++tier) {
            if (mask & (1 << tier) == 0) continue;
            TierTotal storage total = _tierTotals[tier];
            uint256 tierStake = total.stake + stake - previous;
            if (tierStake > _MAX_TIER_STAKE) revert StakeTooLarge(tierStake);
            total.stake = uint208(tierStake);
            total.changedAt = key;
            _tierHistory[tier].push(key, uint208(tierStake));
        }
    }

    function _stakeAndTiersAt(address auditor, uint256 blockNumber)
        private
        view
        returns (uint256 stake, uint8 tierMask)
    {
        _checkPast(blockNumber);
        Record storage record = _records[auditor];
        tierMask = record.tierMask;
        stake = record.changedAt <= blockNumber
            ? record.stake
            : _stakeHistory[auditor].upperLookupRecent(uint48(blockNumber));
    }

    function _tierStakeAt(uint256 tier, uint256 blockNumber) private view returns (uint256) {
        TierTotal storage total = _tierTotals[tier];
        return total.changedAt <= blockNumber
            ? total.stake
            : _tierHistory[tier].upperLookupRecent(uint48(blockNumber));
    }

    /// @dev Stake at a block is only final once the block is over; the current one is allowed
    /// for off-chain reads, anything later is refused.
    function _checkPast(uint256 blockNumber) private view {
        if (blockNumber > block.number) revert FutureLookup(blockNumber, block.number);
    }
}
