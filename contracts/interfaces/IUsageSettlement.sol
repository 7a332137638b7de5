// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IUsageSettlement
/// @notice Settles what consumers used at workers, with cumulative vouchers: a signed request
/// carries a running total for one lane, `(consumer, key, worker, epoch)`, and the worker settles
/// only the lane's latest total, one entry per lane whatever the number of queries. The contract
/// charges `(total - settledTotal) * min(feePerQuery now, maxFeePerQuery signed)` from the
/// consumer's deposit, counts the queries against its quota for the epoch (summed over workers
/// and keys), and accrues the fees per epoch and per the run whose model the worker declared it
/// serves (`serveRun`): `sweepRunFees` forwards a run's fees to the pool of the contributions that
/// model learned from (RunRewards), and `sweepFees` forwards the fees of workers serving no
/// committed model to that epoch's contributor reward pool (ContributorRewards). The EIP-712 domain ("DAO AI Query", version "2", this chain, this contract) binds
/// every signature to this deployment.
/// @dev Lanes and per-epoch usage are kept for two epochs at a time (the epoch a settlement can be
/// for is the current one or the previous one: the settlement window is one epoch), so a lane's
/// and a consumer's slots are rewritten, never created, from one epoch to the next. Settlement
/// goes on while the kill switch is engaged: it pays for queries served before it.
/// Invariants: per consumer and epoch, settled queries never exceed `policy.quotaAt` at the time
/// of each settlement; a lane is never charged for the same total twice; a query is never charged
/// more than the fee its voucher or grant signed; fees accrued equal fees charged.
interface IUsageSettlement {
    /// @notice A consumer's Usage voucher (key `address(0)`), for the worker that settles it.
    /// @param consumer Who was served and pays.
    /// @param epoch The epoch the queries were served in.
    /// @param total The lane's running total this voucher authorises (the highest served).
    /// @param maxFeePerQuery The most the consumer agreed to pay per query, in wei.
    /// @param inputHash Hash of the input of the request that carried this voucher.
    /// @param deadline After this time the worker must not serve the request.
    /// @param signature The consumer's EIP-712 signature: ECDSA, or else ERC-1271 (a Safe, say).
    struct Voucher {
        address consumer;
        uint64 epoch;
        uint64 total;
        uint256 maxFeePerQuery;
        bytes32 inputHash;
        uint64 deadline;
        bytes signature;
    }

    /// @notice A consumer's authorisation of a key (an API key or a session key).
    /// @param consumer Who pays for what the key is used for.
    /// @param key The key's address.
    /// @param worker The only worker it may be used at; `address(0)`: any authorised worker.
    /// @param maxQueries The most queries the key may be charged for, over its whole life, at all
    /// workers together.
    /// @param maxFeePerQuery The most charged per query, in wei.
    /// @param expiresAt When the key stops being served (usage before it settles until the window after).
    struct KeyGrant {
        address consumer;
        address key;
        address worker;
        uint64 maxQueries;
        uint256 maxFeePerQuery;
        uint64 expiresAt;
    }

    /// @notice One key lane's settlement.
    /// @param grant The consumer's grant of the key.
    /// @param grantSignature The consumer's EIP-712 signature over the grant (ECDSA, else ERC-1271).
    /// @param epoch The lane's epoch; the lane is (grant.consumer, grant.key, the worker, epoch).
    /// @param total The lane's running total to charge up to.
    /// @param inputHash Session-key mode: the signed Usage's input hash (zero for bearer keys).
    /// @param deadline Session-key mode: the signed Usage's deadline (zero for bearer keys).
    /// @param keySignature Empty for a bearer key (the worker's own count, bounded by the grant's
    /// cap); else the key's ECDSA signature over Usage(..., maxFeePerQuery = grant.maxFeePerQuery, ...).
    struct KeySettlement {
        KeyGrant grant;
        bytes grantSignature;
        uint64 epoch;
        uint64 total;
        bytes32 inputHash;
        uint64 deadline;
        bytes keySignature;
    }

    /// @notice `consumer` deposited `amount` wei to pay for queries.
    event Deposited(address indexed consumer, address indexed from, uint256 amount);
    /// @notice `consumer` asked to withdraw `amount` wei, possible from `unlocksAt`.
    event WithdrawalRequested(address indexed consumer, uint256 amount, uint64 unlocksAt);
    /// @notice `consumer` withdrew `amount` wei.
    event Withdrawn(address indexed consumer, uint256 amount);
    /// @notice A lane was settled up to `total`: `queries` newly charged, for `fees` wei.
    event UsageSettled(
        address indexed consumer,
        address indexed key,
        address indexed worker,
        uint64 epoch,
        uint64 total,
        uint64 queries,
        uint256 fees
    );
    /// @notice `consumer` revoked `key`; it settles until `revokedAt + CANCEL_GRACE`.
    event KeyRevoked(address indexed consumer, address indexed key, uint64 revokedAt);
    /// @notice `consumer` voided its vouchers above `aboveTotal` for `worker` in `epoch`, from `effectiveAt`.
    event VouchersCancelled(
        address indexed consumer,
        address indexed worker,
        uint64 epoch,
        uint64 aboveTotal,
        uint64 effectiveAt
    );
    /// @notice `amount` wei of fees of `epoch` went to the epoch's contributor reward pool.
    event FeesSwept(uint64 indexed epoch, uint256 amount);
    /// @notice `worker` declared that it serves the model of `runId` (zero: none): the fees of its
    /// settlements from now on go to that model's contributions.
    event WorkerServesRun(address indexed worker, bytes32 indexed runId);
    /// @notice `amount` wei of the fees of `epoch` charged for `runId`'s model went to its
    /// contributions' pool in RunRewards.
    event RunFeesSwept(uint64 indexed epoch, bytes32 indexed runId, uint256 amount);

    /// @notice The caller is not a worker the DAO authorised: only they settle usage.
    error UsageNotWorker(address caller);
    /// @notice A settlement batch must hold at least one entry.
    error UsageEmptyBatch();
    /// @notice The usage is for an epoch that has not started.
    error UsageFutureEpoch(uint64 epoch, uint64 currentEpoch);
    /// @notice The epoch's settlement window closed at `closedAt`: its usage can no longer be
    /// charged (stale quota cannot be replayed into a later epoch).
    error UsageSettlementWindowClosed(uint64 epoch, uint64 closedAt);
    /// @notice The voucher's deadline is before its epoch began, or more than the grace (one epoch
    /// plus the settlement window) has passed since it: the worker settles too late, or never served it.
    error UsageVoucherExpired(uint64 deadline, uint64 epoch);
    /// @notice The signature is not the consumer's over this voucher or grant (neither ECDSA nor
    /// ERC-1271 accepts it).
    error UsageInvalidSignature(address consumer);
    /// @notice The session key's signature is not `key`'s ECDSA signature over this Usage.
    error UsageInvalidKeySignature(address key);
    /// @notice The lane is already settled up to `settledTotal` (at or above this total, or the
    /// total was cancelled down to it): nothing is charged twice.
    error UsageNothingToSettle(address consumer, address key, uint64 epoch, uint64 total, uint64 settledTotal);
    /// @notice Settling would take the consumer's usage in `epoch` (all workers and keys) past its quota.
    error UsageExceedsQuota(address consumer, uint64 epoch, uint64 wouldBe, uint64 quota);
    /// @notice The consumer's deposit cannot pay the fees.
    error UsageInsufficientDeposit(address consumer, uint256 balance, uint256 fees);
    /// @notice A grant must name a consumer and a key (the zero key is the consumer's own lane).
    error UsageInvalidKeyGrant(address consumer, address key);
    /// @notice The grant names another worker than the caller.
    error UsageKeyWrongWorker(address key, address worker);
    /// @notice The key expired: usage in epochs begun after `expiresAt`, or settled later than the
    /// settlement window after it, is refused.
    error UsageKeyExpired(address key, uint64 expiresAt);
    /// @notice The key was revoked at `revokedAt` and its grace (CANCEL_GRACE) is over.
    error UsageKeyRevoked(address consumer, address key, uint64 revokedAt);
    /// @notice Settling would take the key past its grant's cap of queries.
    error UsageKeyCapExceeded(address key, uint64 wouldBe, uint64 maxQueries);
    /// @notice The epoch's settlement window is still open (until `closesAt`): its fees cannot be swept yet.
    error UsageSettlementWindowOpen(uint64 epoch, uint64 closesAt);
    /// @notice The epoch's fees were already swept to the reward pool.
    error UsageFeesAlreadySwept(uint64 epoch);
    /// @notice The run's fees of this epoch were already swept to its contributions' pool.
    error UsageRunFeesAlreadySwept(uint64 epoch, bytes32 runId);
    /// @notice The run has no model commitment: a worker can only serve a committed model.
    error UsageRunNotCommitted(bytes32 runId);
    /// @notice The DAO revoked the run: its model is not to be served.
    error UsageRunRevoked(bytes32 runId);
    /// @notice Run zero is no model: its fees are swept with `sweepFees`.
    error UsageNoRun();
    /// @notice Deposits and withdrawals must be more than zero and at most the balance.
    error UsageInvalidAmount(uint256 amount);
    /// @notice The withdrawal is not unlocked yet, or none was requested.
    error UsageWithdrawalLocked(uint64 unlocksAt);
    /// @notice Sending `amount` wei to `to` failed.
    error UsageTransferFailed(address to, uint256 amount);

    /// @notice Add the sent value to `consumer`'s deposit.
    function deposit(address consumer) external payable;
    /// @notice Ask to withdraw `amount` of the caller's deposit. It unlocks when the settlement
    /// window of the current epoch closes (`epochEnd(current) + settlementWindow`), the last time
    /// what was served until now can be charged; it replaces any earlier request. Workers treat a
    /// requested withdrawal as gone. Not paused by the kill switch (settlement is not either).
    function requestWithdrawal(uint256 amount) external;
    /// @notice Withdraw what was requested, once unlocked (capped at what is left of the deposit).
    function withdraw() external returns (uint256 amount);

    /// @notice Settle the consumers' latest vouchers, one per lane (key `address(0)`, worker the
    /// caller). Authorised workers only; all or nothing; allowed while the kill switch is engaged.
    function settle(Voucher[] calldata vouchers) external;
    /// @notice Settle key lanes: bearer keys with the worker's count, session keys with the key's
    /// signed Usage. Authorised workers only; all or nothing.
    function settleKeys(KeySettlement[] calldata settlements) external;
    /// @notice Revoke `key` (the caller is the consumer that granted it). It still settles for
    /// CANCEL_GRACE, so that a worker that served it before seeing the revocation is paid; a
    /// second revocation keeps the first time. A revoked key stays revoked, whatever grant of it
    /// is shown later: authorise a new key instead.
    function revokeKey(address key) external;
    /// @notice Void the caller's vouchers for `worker` in `epoch` above `aboveTotal`, from
    /// CANCEL_GRACE after now (a worker that served before seeing it is paid); the voucher totals
    /// above are then charged as `aboveTotal`. A later call replaces an earlier one.
    function cancelVouchers(address worker, uint64 epoch, uint64 aboveTotal) external;
    /// @notice Forward `epoch`'s fees to the contributor reward pool, once its settlement window
    /// closed. Anyone may call it; each epoch is swept once. A settlement two epochs later sweeps
    /// an epoch that nobody swept, so fees are never stranded.
    function sweepFees(uint64 epoch) external;
    /// @notice Forward the fees charged in `epoch` by workers serving `runId`'s model to that
    /// model's contributions (RunRewards.fundRun), once the epoch's settlement window closed.
    /// Anyone may call it; each (epoch, run) is swept once. A run revoked after its model answered
    /// still receives those queries' fees: its contributions' data gave the answers paid for.
    function sweepRunFees(uint64 epoch, bytes32 runId) external;
    /// @notice Declare the run whose model the caller (an authorised worker) serves from now on:
    /// committed in ModelCommitments and not revoked; zero declares none. Its later settlements'
    /// fees go to that run: a worker settles what it served under its previous model first.
    function serveRun(bytes32 runId) external;

    /// @notice A consumer's deposit and pending withdrawal.
    function accountOf(
        address consumer
    ) external view returns (uint256 balance, uint256 pendingWithdrawal, uint64 unlocksAt);
    /// @notice The lane's settled total: kept while the epoch can still be settled, 0 for earlier
    /// epochs (the UsageSettled events keep the history).
    function settledTotal(address consumer, address key, address worker, uint64 epoch) external view returns (uint64);
    /// @notice How many of `consumer`'s queries in `epoch` are settled, over all workers and keys
    /// (kept while the epoch can still be settled, as `settledTotal`).
    function usedInEpoch(address consumer, uint64 epoch) external view returns (uint64);
    /// @notice How many queries `key` was charged for (all epochs and workers), and when it was
    /// revoked (0: not revoked).
    function keyState(address consumer, address key) external view returns (uint64 used, uint64 revokedAt);
    /// @notice `consumer`'s cancellation of its vouchers for `worker` in `epoch` (all zero: none).
    function cancellation(
        address consumer,
        address worker,
        uint64 epoch
    ) external view returns (uint64 aboveTotal, uint64 effectiveAt);
    /// @notice The fees charged for `epoch`'s usage by workers serving no committed model, and
    /// whether they went to the epoch's reward pool.
    function feesOf(uint64 epoch) external view returns (uint256 accrued, bool swept);
    /// @notice The fees charged in `epoch` by workers serving `runId`'s model, and whether they
    /// went to its contributions' pool.
    function runFeesOf(uint64 epoch, bytes32 runId) external view returns (uint256 accrued, bool swept);
    /// @notice The run `worker` declared it serves (zero: none).
    function servedRun(address worker) external view returns (bytes32);
    /// @notice How long after an epoch's end its usage may still be settled, in seconds (one epoch).
    function settlementWindow() external view returns (uint64);
    /// @notice How long a revoked key or a cancelled voucher still settles, in seconds.
    function CANCEL_GRACE() external view returns (uint64);
    /// @notice The EIP-712 digest of a Usage voucher (signed by the consumer, or by its session key).
    function usageDigest(
        address consumer,
        address key,
        address worker,
        uint64 epoch,
        uint64 total,
        uint256 maxFeePerQuery,
        bytes32 inputHash,
        uint64 deadline
    ) external view returns (bytes32);
    /// @notice The EIP-712 digest of a key grant, which the consumer signs.
    function keyGrantDigest(KeyGrant calldata grant) external view returns (bytes32);
}
