// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title IRegistry
/// @notice Auditors of the TRUST network: stake, tiers, keys, unbonding and slashing.
/// @dev Stake history is checkpointed by block number so a trace's committee is drawn from the
/// stakes of the block before its submission, whatever happens afterwards.
interface IRegistry {
    /// @notice Auditor tiers, cheapest first; escalation moves a segment to the next one.
    /// @dev Same order as `protocol.models.Tier`. Tier bit i of a tier mask is `Tier(i)`.
    enum Tier {
        CHECKER,
        LLM,
        HUMAN
    }

    /// @notice Everything the registry knows about one auditor.
    /// @param x25519Key X25519 public key that segments are encrypted to.
    /// @param peerId libp2p peer id (binary multihash).
    /// @param tierMask Tiers the auditor judges in (bit i = Tier i); zero when not registered.
    /// @param stake Active stake in wei: what sortition and tallies weigh.
    /// @param unbonding Stake leaving the registry, withdrawable from `unbondingReadyAt`.
    /// @param unbondingReadyAt Timestamp from which `withdraw` pays `unbonding` out.
    struct AuditorInfo {
        bytes32 x25519Key;
        bytes peerId;
        uint8 tierMask;
        uint256 stake;
        uint256 unbonding;
        uint64 unbondingReadyAt;
    }

    /// @notice An auditor joined with `stake` wei in the tiers of `tierMask`.
    event AuditorRegistered(
        address indexed auditor, uint8 tierMask, bytes32 x25519Key, bytes peerId, uint256 stake
    );
    /// @notice An auditor added `amount` wei; its active stake is now `stake`.
    event StakeAdded(address indexed auditor, uint256 amount, uint256 stake);
    /// @notice `amount` wei left active stake; `unbonding` wei wait until `readyAt`.
    event UnbondingRequested(
        address indexed auditor, uint256 amount, uint256 unbonding, uint64 readyAt
    );
    /// @notice An auditor took `amount` wei of unbonded stake out.
    event StakeWithdrawn(address indexed auditor, uint256 amount);
    /// @notice The ledger took `taken` wei (of `requested`) from an auditor's stake.
    event AuditorSlashed(address indexed auditor, uint256 requested, uint256 taken);
    /// @notice The deployer bound the registry to its ledger (once).
    event LedgerSet(address indexed ledger);

    /// @notice `auditor` is registered already: tiers are fixed at registration.
    error AlreadyRegistered(address auditor);
    /// @notice `auditor` never registered.
    error NotRegistered(address auditor);
    /// @notice A tier mask must name at least one of the three tiers and nothing else.
    error InvalidTierMask(uint8 tierMask);
    /// @notice A tier number outside the `Tier` enum.
    error InvalidTier(uint8 tier);
    /// @notice Registration needs an X25519 key and a peer id.
    error InvalidAuditorKeys();
    /// @notice Deposits, unbonding requests and slashes must move a positive amount.
    error ZeroAmount();
    /// @notice Active stake would reach 2**96 wei, the bound the sortition arithmetic relies on.
    error StakeTooLarge(uint256 stake);
    /// @notice Unbonding asked for more than the active stake.
    error InsufficientStake(uint256 requested, uint256 available);
    /// @notice `withdraw` found nothing unbonding.
    error NothingToWithdraw();
    /// @notice The unbonding delay has not passed yet.
    error UnbondingNotReady(uint64 readyAt);
    /// @notice Only the ledger may slash.
    error NotLedger(address caller);
    /// @notice Only the deployer may bind the ledger.
    error NotDeployer(address caller);
    /// @notice The ledger is bound once and for all.
    error LedgerAlreadySet();
    /// @notice Unbonding must outlast the ledger's dispute window, or stake could flee a slash.
    error UnbondingTooShort(uint256 unbondingDelay, uint256 disputeWindow);
    /// @notice Stake history is only defined up to the current block.
    error FutureLookup(uint256 blockNumber, uint256 currentBlock);

    /// @notice Joins with `msg.value` wei of stake, in the tiers of `tierMask` (fixed for good).
    function register(uint8 tierMask, bytes32 x25519Key, bytes calldata peerId) external payable;

    /// @notice Adds `msg.value` wei to the caller's active stake.
    function addStake() external payable;

    /// @notice Moves `amount` wei out of active stake at once; withdrawable after the delay.
    function requestUnbonding(uint256 amount) external;

    /// @notice Pays out the caller's unbonding stake once its delay has passed.
    function withdraw() external;

    /// @notice Takes up to `amount` wei from `auditor` (active stake first) and sends it to the
    /// ledger. Ledger only.
    function slash(address auditor, uint256 amount) external returns (uint256 taken);

    /// @notice Binds the ledger, once, deployer only.
    function setLedger(address ledger) external;

    /// @notice The ledger allowed to slash, zero until bound.
    function ledger() external view returns (address);

    /// @notice Seconds between an unbonding request and its withdrawal.
    function unbondingDelay() external view returns (uint256);

    /// @notice Active stake of `auditor` at the end of block `blockNumber`.
    function stakeAt(address auditor, uint256 blockNumber) external view returns (uint256);

    /// @notice Active stake of `auditor` at `blockNumber` and its tier mask, in one call.
    function stakeAndTiersAt(address auditor, uint256 blockNumber)
        external
        view
        returns (uint256 stake, uint8 tierMask);

    /// @notice `stakeAndTiersAt` for many auditors in one call: a node reads a whole stake
    /// snapshot at once instead of one call per auditor.
    function stakesAndTiersAt(address[] calldata auditors, uint256 blockNumber)
        external
        view
        returns (uint256[] memory stakes, uint8[] memory tierMasks);

    /// @notice Total active stake registered in `tier` at the end of block `blockNumber`.
    function tierStakeAt(uint8 tier, uint256 blockNumber) external view returns (uint256);

    /// @notice The three tier stakes at `blockNumber`, indexed by `Tier`.
    function tierStakesAt(uint256 blockNumber) external view returns (uint256[3] memory);

    /// @notice Current active stake of `auditor`.
    function stakeOf(address auditor) external view returns (uint256);

    /// @notice Tier mask of `auditor` (bit i = Tier i), zero when not registered.
    function tiersOf(address auditor) external view returns (uint8);

    /// @notice What a slash could take from `auditor` now: active plus unbonding stake.
    function slashableOf(address auditor) external view returns (uint256);

    /// @notice Keys, tiers and stake of `auditor`.
    function auditorInfo(address auditor) external view returns (AuditorInfo memory);
}
