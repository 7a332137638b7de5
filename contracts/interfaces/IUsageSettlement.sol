// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IUsageSettlement
/// @notice Settles consumers' signed queries on chain, in batches: each signed query is counted
/// against its consumer's quota for its epoch, and its fee moves from the consumer's deposit to
/// that epoch's contributor reward pool. The EIP-712 domain of this contract is the one consumers
/// sign their queries in, so a signature is bound to this chain and this deployment.
/// @dev Invariant: for every consumer and epoch, settled usage never exceeds the consumer's quota
/// at the time of settlement. A signed query is settled at most once (its nonce is spent).
interface IUsageSettlement {
    /// @notice A query as the consumer signed it, with its signature.
    /// @param consumer Who asked and pays.
    /// @param inputHash Hash of the query's input (the worker holds the input itself).
    /// @param nonce Any unused number; each may be spent once per consumer.
    /// @param epoch The epoch whose quota the query counts against.
    /// @param deadline After this time a worker refuses to serve the query.
    /// @param signature The consumer's EIP-712 signature (or ERC-1271 for a contract account).
    struct SignedQuery {
        address consumer;
        bytes32 inputHash;
        uint64 nonce;
        uint64 epoch;
        uint64 deadline;
        bytes signature;
    }

    /// @notice `consumer` deposited `amount` wei to pay for queries.
    event Deposited(address indexed consumer, address indexed from, uint256 amount);
    /// @notice `consumer` asked to withdraw `amount` wei, possible from `unlocksAt`.
    event WithdrawalRequested(address indexed consumer, uint256 amount, uint64 unlocksAt);
    /// @notice `consumer` withdrew `amount` wei.
    event Withdrawn(address indexed consumer, uint256 amount);
    /// @notice A batch settled `queries` queries of `consumer` in `epoch`, for `fees` wei.
    event UsageSettled(
        address indexed consumer,
        uint64 indexed epoch,
        uint64 queries,
        uint64 totalSettled,
        uint256 fees
    );

    /// @notice The caller is not a worker the DAO authorised.
    error UsageNotWorker(address caller);
    /// @notice The kill switch is engaged: no usage is settled.
    error UsageKillSwitchEngaged();
    /// @notice The signature is not the consumer's over this query.
    error UsageInvalidSignature(address consumer, uint64 nonce);
    /// @notice This query's nonce was already settled.
    error UsageNonceAlreadyUsed(address consumer, uint64 nonce);
    /// @notice Settling would take the consumer's usage in `epoch` past its quota.
    error UsageExceedsQuota(address consumer, uint64 epoch, uint64 wouldBe, uint64 quota);
    /// @notice The query is for an epoch that has not started.
    error UsageFutureEpoch(uint64 epoch, uint64 currentEpoch);
    /// @notice The consumer's deposit cannot pay the fee.
    error UsageInsufficientDeposit(address consumer, uint256 balance, uint256 fee);
    /// @notice Deposits and withdrawals must be more than zero and at most the balance.
    error UsageInvalidAmount(uint256 amount);
    /// @notice The withdrawal is not unlocked yet, or none was requested.
    error UsageWithdrawalLocked(uint64 unlocksAt);
    /// @notice Sending `amount` wei to `to` failed.
    error UsageTransferFailed(address to, uint256 amount);

    /// @notice Add the sent value to `consumer`'s deposit.
    function deposit(address consumer) external payable;
    /// @notice Ask to withdraw `amount` of the caller's deposit. It unlocks at the end of the next
    /// epoch, so that queries already served can still be settled; it replaces any earlier request.
    function requestWithdrawal(uint256 amount) external;
    /// @notice Withdraw what was requested, once unlocked (capped at what is left of the deposit).
    function withdraw() external returns (uint256 amount);

    /// @notice Settle a batch of signed queries. Authorised workers only. All or nothing.
    function settle(SignedQuery[] calldata queries) external;

    /// @notice A consumer's deposit and pending withdrawal.
    function accountOf(
        address consumer
    ) external view returns (uint256 balance, uint256 pendingWithdrawal, uint64 unlocksAt);
    /// @notice How many of `consumer`'s queries in `epoch` are settled.
    function settledUsage(address consumer, uint64 epoch) external view returns (uint64);
    /// @notice Whether `consumer`'s `nonce` was settled.
    function isNonceUsed(address consumer, uint64 nonce) external view returns (bool);
    /// @notice The EIP-712 digest a consumer signs for a query.
    function queryDigest(
        address consumer,
        bytes32 inputHash,
        uint64 nonce,
        uint64 epoch,
        uint64 deadline
    ) external view returns (bytes32);
}
