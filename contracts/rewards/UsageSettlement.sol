// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IContributorRewards} from "../interfaces/IContributorRewards.sol";
import {IModelCommitments} from "../interfaces/IModelCommitments.sol";
import {IPolicyRegistry} from "../interfaces/IPolicyRegistry.sol";
import {IRunRewards} from "../interfaces/IRunRewards.sol";
import {IUsageSettlement} from "../interfaces/IUsageSettlement.sol";

/// @title UsageSettlement
/// @notice Settles consumers' cumulative Usage vouchers and key lanes. See {IUsageSettlement}.
/// @dev Storage is laid out for one settlement entry to rewrite warm-able slots only:
/// - a lane's settled totals and a consumer's usage are one word each holding two
///   `(epoch, count)` pairs, chosen by the epoch's parity: only the current and the previous
///   epoch can be settled (the window is one epoch), so the pair of two epochs back is stale and
///   is overwritten, and next epoch's first settlement rewrites a slot instead of creating one;
/// - the fees accrue in two pots, by parity as well; a pot still holding an unswept epoch is
///   swept when a later epoch takes it over;
/// - the fees of a worker that serves a committed model accrue per (epoch, run) instead, one slot
///   each, read once per batch from the worker's declared run;
/// - a consumer's balance and pending withdrawal share one slot;
/// - a key's use, revocation and a tag of the grant last verified share one slot, so a grant's
///   signature is checked once, not per settlement.
contract UsageSettlement is IUsageSettlement, EIP712, ReentrancyGuard {
    /// @dev The voucher type consumers and session keys sign; the worker's TypeScript builds the
    /// same (tested against `usageDigest`).
    bytes32 public constant USAGE_TYPEHASH = keccak256(
        "Usage(address consumer,address key,address worker,uint64 epoch,uint64 total,uint256 maxFeePerQuery,bytes32 inputHash,uint64 deadline)"
    );
    /// @dev The key grant type consumers sign (tested against `keyGrantDigest`).
    bytes32 public constant KEY_GRANT_TYPEHASH = keccak256(
        "KeyGrant(address consumer,address key,address worker,uint64 maxQueries,uint256 maxFeePerQuery,uint64 expiresAt)"
    );
    /// @inheritdoc IUsageSettlement
    uint64 public constant CANCEL_GRACE = 1 hours;

    IPolicyRegistry public immutable policy;
    IContributorRewards public immutable rewards;
    IModelCommitments public immutable modelCommitments;
    IRunRewards public immutable runRewards;
    /// @dev The registry's epoch length and genesis, fixed there at deployment: cached to save a
    /// call per settlement.
    uint64 private immutable _epochLength;
    uint64 private immutable _epochGenesis;

    struct Account {
        uint128 balance;
        uint128 pendingWithdrawal;
        uint64 unlocksAt;
    }

    struct KeyRecord {
        uint64 used;
        uint64 revokedAt;
        /// @dev The top 128 bits of the struct hash of the last grant whose signature was verified.
        uint128 grantTag;
    }

    struct Cancellation {
        uint64 aboveTotal;
        uint64 effectiveAt;
    }

    struct FeePot {
        uint64 epoch;
        uint192 accrued;
    }

    /// @dev An epoch's fees once swept, and a run's fees of an epoch, accruing then swept.
    struct SweptFees {
        uint192 amount;
        bool swept;
    }

    /// @dev One lane's charge in progress; a struct keeps the settlement's stack shallow.
    struct Lane {
        address consumer;
        address key;
        uint64 epoch;
        uint64 total;
        uint256 maxFeePerQuery;
        /// @dev The run the settling worker serves (zero: none), whose contributions the fees go to.
        bytes32 run;
    }

    mapping(address consumer => Account) private _accounts;
    /// @dev Two `(epoch, settledTotal)` pairs by epoch parity, per keccak256(consumer, key, worker).
    mapping(bytes32 laneId => uint256 pairs) private _lanes;
    /// @dev Two `(epoch, used)` pairs by epoch parity. Invariant: `used <= policy.quotaAt` at each settlement.
    mapping(address consumer => uint256 pairs) private _usage;
    mapping(address consumer => mapping(address key => KeyRecord)) private _keys;
    /// @dev Per keccak256(consumer, worker, epoch).
    mapping(bytes32 cancellationId => Cancellation) private _cancellations;
    FeePot[2] private _pots;
    mapping(uint64 epoch => SweptFees) private _swept;
    /// @dev The run each worker declared it serves; zero: none, its fees go to the epoch's pool.
    mapping(address worker => bytes32 runId) private _servedRuns;
    /// @dev Invariant: `amount` is the fees charged in `epoch` by workers serving `runId` (nonzero
    /// runs only), and once `swept` it was forwarded to RunRewards and nothing more accrues.
    mapping(uint64 epoch => mapping(bytes32 runId => SweptFees)) private _runFees;

    /// @param policy_ The PolicyRegistry with quotas, the fee, workers and epochs.
    /// @param rewards_ Where the fees of workers serving no committed model go: the pool of the epoch
    /// the queries were served in.
    /// @param modelCommitments_ Where a served run's model must be committed.
    /// @param runRewards_ Where the fees of a served run go: the pool of the run's contributions.
    constructor(
        IPolicyRegistry policy_,
        IContributorRewards rewards_,
        IModelCommitments modelCommitments_,
        IRunRewards runRewards_
    ) EIP712("DAO AI Query", "2") {
        policy = policy_;
        rewards = rewards_;
        modelCommitments = modelCommitments_;
        runRewards = runRewards_;
        _epochLength = policy_.epochLength();
        _epochGenesis = policy_.epochGenesis();
    }

    // ---------------------------------------------------------------------------------------------
    // Deposits
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IUsageSettlement
    function deposit(address consumer) external payable {
        if (msg.value == 0) revert UsageInvalidAmount(0);
        Account storage account = _accounts[consumer];
        account.balance = SafeCast.toUint128(account.balance + msg.value);
        emit Deposited(consumer, msg.sender, msg.value);
    }

    /// @inheritdoc IUsageSettlement
    function requestWithdrawal(uint256 amount) external {
        Account storage account = _accounts[msg.sender];
        if (amount == 0 || amount > account.balance) revert UsageInvalidAmount(amount);
        uint64 unlocksAt = _windowClosesAt(_currentEpoch());
        account.pendingWithdrawal = uint128(amount);
        account.unlocksAt = unlocksAt;
        emit WithdrawalRequested(msg.sender, amount, unlocksAt);
    }

    /// @inheritdoc IUsageSettlement
    function withdraw() external nonReentrant returns (uint256 amount) {
        Account storage account = _accounts[msg.sender];
        if (account.pendingWithdrawal == 0 || block.timestamp < account.unlocksAt) {
            revert UsageWithdrawalLocked(account.unlocksAt);
        }
        uint128 balance = account.balance;
        uint128 pending = account.pendingWithdrawal;
        uint128 paid = pending < balance ? pending : balance;
        account.balance = balance - paid;
        account.pendingWithdrawal = 0;
        account.unlocksAt = 0;
        amount = paid;
        emit Withdrawn(msg.sender, amount);
        (bool ok, ) = msg.sender.call{value: amount}("");
        if (!ok) revert UsageTransferFailed(msg.sender, amount);
    }

    // ---------------------------------------------------------------------------------------------
    // Settlement
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IUsageSettlement
    /// @dev No reentrancy guard: the calls made are to the registry and ERC-1271 views (static
    /// calls, which cannot change state) and to the reward pool, after this contract's books.
    function settle(Voucher[] calldata vouchers) external {
        if (vouchers.length == 0) revert UsageEmptyBatch();
        bytes32 run = _servedRuns[msg.sender];
        for (uint256 i = 0; i < vouchers.length; ++i) {
            Voucher calldata v = vouchers[i];
            // The deadline first: past its grace, that is the reason to give, not the closed window.
            _checkDeadline(v.deadline, v.epoch);
            _checkWindow(v.epoch);
            bytes32 digest = usageDigest(
                v.consumer,
                address(0),
                msg.sender,
                v.epoch,
                v.total,
                v.maxFeePerQuery,
                v.inputHash,
                v.deadline
            );
            if (!_isConsumerSignature(v.consumer, digest, v.signature)) revert UsageInvalidSignature(v.consumer);
            uint64 total = _cancelledCap(v.consumer, v.epoch, v.total);
            _charge(Lane(v.consumer, address(0), v.epoch, total, v.maxFeePerQuery, run));
        }
    }

    /// @inheritdoc IUsageSettlement
    function settleKeys(KeySettlement[] calldata settlements) external {
        if (settlements.length == 0) revert UsageEmptyBatch();
        bytes32 run = _servedRuns[msg.sender];
        for (uint256 i = 0; i < settlements.length; ++i) {
            KeySettlement calldata s = settlements[i];
            KeyGrant calldata g = s.grant;
            _checkWindow(s.epoch);
            KeyRecord storage record = _checkKey(g, s.epoch);
            _checkGrantSignature(g, s.grantSignature, record);
            if (s.keySignature.length != 0) {
                // Session-key mode: the key signed this Usage, as a consumer signs a voucher.
                _checkDeadline(s.deadline, s.epoch);
                bytes32 digest = usageDigest(
                    g.consumer,
                    g.key,
                    msg.sender,
                    s.epoch,
                    s.total,
                    g.maxFeePerQuery,
                    s.inputHash,
                    s.deadline
                );
                (address signer, ECDSA.RecoverError error, ) = ECDSA.tryRecover(digest, s.keySignature);
                if (error != ECDSA.RecoverError.NoError || signer != g.key) revert UsageInvalidKeySignature(g.key);
            }
            uint64 queries = _charge(Lane(g.consumer, g.key, s.epoch, s.total, g.maxFeePerQuery, run));
            uint64 used = record.used + queries;
            if (used > g.maxQueries) revert UsageKeyCapExceeded(g.key, used, g.maxQueries);
            record.used = used;
        }
    }

    /// @inheritdoc IUsageSettlement
    function revokeKey(address key) external {
        KeyRecord storage record = _keys[msg.sender][key];
        if (record.revokedAt != 0) revert UsageKeyRevoked(msg.sender, key, record.revokedAt);
        record.revokedAt = uint64(block.timestamp);
        emit KeyRevoked(msg.sender, key, uint64(block.timestamp));
    }

    /// @inheritdoc IUsageSettlement
    function cancelVouchers(address worker, uint64 epoch, uint64 aboveTotal) external {
        uint64 effectiveAt = uint64(block.timestamp) + CANCEL_GRACE;
        _cancellations[_cancellationId(msg.sender, worker, epoch)] = Cancellation(aboveTotal, effectiveAt);
        emit VouchersCancelled(msg.sender, worker, epoch, aboveTotal, effectiveAt);
    }

    /// @inheritdoc IUsageSettlement
    function sweepFees(uint64 epoch) external nonReentrant {
        uint64 closesAt = _windowClosesAt(epoch);
        if (block.timestamp < closesAt) revert UsageSettlementWindowOpen(epoch, closesAt);
        if (_swept[epoch].swept) revert UsageFeesAlreadySwept(epoch);
        FeePot storage pot = _pots[epoch & 1];
        uint192 amount = 0;
        if (pot.epoch == epoch) {
            amount = pot.accrued;
            pot.accrued = 0;
        }
        _forward(epoch, amount);
    }

    /// @inheritdoc IUsageSettlement
    function sweepRunFees(uint64 epoch, bytes32 runId) external nonReentrant {
        if (runId == bytes32(0)) revert UsageNoRun();
        uint64 closesAt = _windowClosesAt(epoch);
        if (block.timestamp < closesAt) revert UsageSettlementWindowOpen(epoch, closesAt);
        SweptFees storage fees = _runFees[epoch][runId];
        if (fees.swept) revert UsageRunFeesAlreadySwept(epoch, runId);
        uint192 amount = fees.amount;
        fees.swept = true;
        emit RunFeesSwept(epoch, runId, amount);
        if (amount != 0) runRewards.fundRun{value: amount}(runId);
    }

    // ---------------------------------------------------------------------------------------------
    // Served models
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IUsageSettlement
    function serveRun(bytes32 runId) external {
        if (!policy.isWorker(msg.sender)) revert UsageNotWorker(msg.sender);
        if (runId != bytes32(0)) {
            if (modelCommitments.commitmentOf(runId).committedAt == 0) revert UsageRunNotCommitted(runId);
            if (policy.trainingRun(runId).revoked) revert UsageRunRevoked(runId);
        }
        _servedRuns[msg.sender] = runId;
        emit WorkerServesRun(msg.sender, runId);
    }

    /// @dev Charges the lane up to `lane.total`: checks the worker, the quota and the deposit
    /// (one policy call), records the lane's and the consumer's new totals, and accrues the fees.
    /// Returns the queries newly charged.
    function _charge(Lane memory lane) private returns (uint64 queries) {
        (bool isWorker, uint64 quota, uint256 fee) = policy.settlementTerms(lane.consumer, msg.sender, lane.epoch);
        if (!isWorker) revert UsageNotWorker(msg.sender);
        queries = _advanceLane(lane);
        uint256 usagePairs = _usage[lane.consumer];
        uint64 used = _pairCount(usagePairs, lane.epoch) + queries;
        if (used > quota) revert UsageExceedsQuota(lane.consumer, lane.epoch, used, quota);
        _usage[lane.consumer] = _setPair(usagePairs, lane.epoch, used);
        uint256 fees = _pay(lane, queries, fee < lane.maxFeePerQuery ? fee : lane.maxFeePerQuery);
        emit UsageSettled(lane.consumer, lane.key, msg.sender, lane.epoch, lane.total, queries, fees);
    }

    /// @dev Moves the lane's settled total up to `lane.total`; returns by how much (never 0).
    function _advanceLane(Lane memory lane) private returns (uint64) {
        bytes32 laneId = keccak256(abi.encode(lane.consumer, lane.key, msg.sender));
        uint256 pairs = _lanes[laneId];
        uint64 settled = _pairCount(pairs, lane.epoch);
        if (lane.total <= settled) {
            revert UsageNothingToSettle(lane.consumer, lane.key, lane.epoch, lane.total, settled);
        }
        _lanes[laneId] = _setPair(pairs, lane.epoch, lane.total);
        return lane.total - settled;
    }

    /// @dev Takes `queries * price` from the consumer's deposit into the fees of the lane's epoch
    /// and run; returns it.
    function _pay(Lane memory lane, uint64 queries, uint256 price) private returns (uint256 fees) {
        address consumer = lane.consumer;
        unchecked {
            fees = uint256(queries) * price;
            // An overflow (absurd fees) reads as more than any deposit.
            if (fees / queries != price) fees = type(uint256).max;
        }
        Account storage account = _accounts[consumer];
        uint128 balance = account.balance;
        if (fees > balance) revert UsageInsufficientDeposit(consumer, balance, fees);
        if (fees != 0) {
            account.balance = balance - uint128(fees);
            if (lane.run == bytes32(0)) _accrue(lane.epoch, uint128(fees));
            else _runFees[lane.epoch][lane.run].amount += uint192(fees);
        }
    }

    /// @dev Adds `fees` to `epoch`'s pot; a pot still holding an older, unswept epoch (whose window
    /// has closed, as only the current and previous epochs settle) is swept first.
    function _accrue(uint64 epoch, uint128 fees) private {
        FeePot storage pot = _pots[epoch & 1];
        FeePot memory current = pot;
        if (current.epoch == epoch) {
            pot.accrued = current.accrued + fees;
            return;
        }
        if (current.accrued != 0) _forward(current.epoch, current.accrued);
        _pots[epoch & 1] = FeePot(epoch, fees);
    }

    /// @dev Marks `epoch`'s fees swept and sends them to its reward pool.
    function _forward(uint64 epoch, uint192 amount) private {
        _swept[epoch] = SweptFees(amount, true);
        emit FeesSwept(epoch, amount);
        if (amount != 0) rewards.fund{value: amount}(epoch);
    }

    // ---------------------------------------------------------------------------------------------
    // Checks
    // ---------------------------------------------------------------------------------------------

    /// @dev The epoch has begun and its settlement window is open.
    function _checkWindow(uint64 epoch) private view {
        uint64 current = _currentEpoch();
        if (epoch > current) revert UsageFutureEpoch(epoch, current);
        uint64 closesAt = _windowClosesAt(epoch);
        if (block.timestamp >= closesAt) revert UsageSettlementWindowClosed(epoch, closesAt);
    }

    /// @dev A signed Usage's deadline falls in or after its epoch, and settles within a grace of
    /// one epoch plus the settlement window after it.
    function _checkDeadline(uint64 deadline, uint64 epoch) private view {
        uint256 epochStart = uint256(_epochGenesis) + uint256(epoch) * _epochLength;
        if (deadline < epochStart || block.timestamp > uint256(deadline) + 2 * uint256(_epochLength)) {
            revert UsageVoucherExpired(deadline, epoch);
        }
    }

    /// @dev The total a voucher may charge: capped at the consumer's cancellation once it took effect.
    function _cancelledCap(address consumer, uint64 epoch, uint64 total) private view returns (uint64) {
        Cancellation memory c = _cancellations[_cancellationId(consumer, msg.sender, epoch)];
        if (c.effectiveAt != 0 && block.timestamp >= c.effectiveAt && total > c.aboveTotal) return c.aboveTotal;
        return total;
    }

    /// @dev The grant may be used here and now; returns its key's record.
    function _checkKey(KeyGrant calldata g, uint64 epoch) private view returns (KeyRecord storage record) {
        if (g.consumer == address(0) || g.key == address(0)) revert UsageInvalidKeyGrant(g.consumer, g.key);
        if (g.worker != address(0) && g.worker != msg.sender) revert UsageKeyWrongWorker(g.key, g.worker);
        uint256 epochStart = uint256(_epochGenesis) + uint256(epoch) * _epochLength;
        if (epochStart >= g.expiresAt || block.timestamp >= uint256(g.expiresAt) + _epochLength) {
            revert UsageKeyExpired(g.key, g.expiresAt);
        }
        record = _keys[g.consumer][g.key];
        uint64 revokedAt = record.revokedAt;
        if (revokedAt != 0 && block.timestamp >= uint256(revokedAt) + CANCEL_GRACE) {
            revert UsageKeyRevoked(g.consumer, g.key, revokedAt);
        }
    }

    /// @dev The consumer signed this grant: verified once, then remembered by a tag of its hash (a
    /// later grant of the same key is verified again and replaces the tag).
    function _checkGrantSignature(KeyGrant calldata g, bytes calldata signature, KeyRecord storage record) private {
        bytes32 structHash = _keyGrantStructHash(g);
        uint128 tag = uint128(uint256(structHash) >> 128);
        if (record.grantTag == tag) return;
        if (!_isConsumerSignature(g.consumer, _hashTypedDataV4(structHash), signature)) {
            revert UsageInvalidSignature(g.consumer);
        }
        record.grantTag = tag;
    }

    /// @dev ECDSA first, then ERC-1271: an EOA that delegates to account code (EIP-7702) still
    /// signs with its key, and its code may reject raw digests; a contract account (a Safe)
    /// answers through ERC-1271.
    function _isConsumerSignature(
        address consumer,
        bytes32 digest,
        bytes calldata signature
    ) private view returns (bool) {
        (address signer, ECDSA.RecoverError error, ) = ECDSA.tryRecover(digest, signature);
        if (error == ECDSA.RecoverError.NoError && signer == consumer) return true;
        return consumer.code.length != 0 && SignatureChecker.isValidERC1271SignatureNow(consumer, digest, signature);
    }

    // ---------------------------------------------------------------------------------------------
    // Epochs and packed pairs
    // ---------------------------------------------------------------------------------------------

    function _currentEpoch() private view returns (uint64) {
        return uint64((block.timestamp - _epochGenesis) / _epochLength);
    }

    /// @dev When `epoch`'s settlement window closes: one window (an epoch) after its end. Saturates
    /// at the largest uint64 for epochs so far ahead that the time would not fit (never reached).
    function _windowClosesAt(uint64 epoch) private view returns (uint64) {
        uint256 closesAt = uint256(_epochGenesis) + (uint256(epoch) + 2) * _epochLength;
        return closesAt > type(uint64).max ? type(uint64).max : uint64(closesAt);
    }

    /// @dev The count stored for `epoch` in a word of two `(epoch, count)` pairs (0 if another
    /// epoch holds its parity's pair). Layout: bits 0-63 even epoch, 64-127 its count, 128-191
    /// odd epoch, 192-255 its count.
    function _pairCount(uint256 pairs, uint64 epoch) private pure returns (uint64) {
        uint256 shift = (epoch & 1) * 128;
        if (uint64(pairs >> shift) != epoch) return 0;
        return uint64(pairs >> (shift + 64));
    }

    /// @dev `pairs` with `epoch`'s pair set to `(epoch, count)`.
    function _setPair(uint256 pairs, uint64 epoch, uint64 count) private pure returns (uint256) {
        uint256 shift = (epoch & 1) * 128;
        uint256 cleared = pairs & ~(uint256(type(uint128).max) << shift);
        return cleared | ((uint256(epoch) | (uint256(count) << 64)) << shift);
    }

    function _cancellationId(address consumer, address worker, uint64 epoch) private pure returns (bytes32) {
        return keccak256(abi.encode(consumer, worker, epoch));
    }

    function _keyGrantStructHash(KeyGrant calldata g) private pure returns (bytes32) {
        return
            keccak256(
                abi.encode(KEY_GRANT_TYPEHASH, g.consumer, g.key, g.worker, g.maxQueries, g.maxFeePerQuery, g.expiresAt)
            );
    }

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IUsageSettlement
    function accountOf(
        address consumer
    ) external view returns (uint256 balance, uint256 pendingWithdrawal, uint64 unlocksAt) {
        Account storage a = _accounts[consumer];
        return (a.balance, a.pendingWithdrawal, a.unlocksAt);
    }

    /// @inheritdoc IUsageSettlement
    function settledTotal(address consumer, address key, address worker, uint64 epoch) external view returns (uint64) {
        return _pairCount(_lanes[keccak256(abi.encode(consumer, key, worker))], epoch);
    }

    /// @inheritdoc IUsageSettlement
    function usedInEpoch(address consumer, uint64 epoch) external view returns (uint64) {
        return _pairCount(_usage[consumer], epoch);
    }

    /// @inheritdoc IUsageSettlement
    function keyState(address consumer, address key) external view returns (uint64 used, uint64 revokedAt) {
        KeyRecord storage record = _keys[consumer][key];
        return (record.used, record.revokedAt);
    }

    /// @inheritdoc IUsageSettlement
    function cancellation(
        address consumer,
        address worker,
        uint64 epoch
    ) external view returns (uint64 aboveTotal, uint64 effectiveAt) {
        Cancellation memory c = _cancellations[_cancellationId(consumer, worker, epoch)];
        return (c.aboveTotal, c.effectiveAt);
    }

    /// @inheritdoc IUsageSettlement
    function feesOf(uint64 epoch) external view returns (uint256 accrued, bool swept) {
        SweptFees memory s = _swept[epoch];
        if (s.swept) return (s.amount, true);
        FeePot memory pot = _pots[epoch & 1];
        return (pot.epoch == epoch ? pot.accrued : 0, false);
    }

    /// @inheritdoc IUsageSettlement
    function runFeesOf(uint64 epoch, bytes32 runId) external view returns (uint256 accrued, bool swept) {
        SweptFees memory fees = _runFees[epoch][runId];
        return (fees.amount, fees.swept);
    }

    /// @inheritdoc IUsageSettlement
    function servedRun(address worker) external view returns (bytes32) {
        return _servedRuns[worker];
    }

    /// @inheritdoc IUsageSettlement
    function settlementWindow() external view returns (uint64) {
        return _epochLength;
    }

    /// @inheritdoc IUsageSettlement
    function usageDigest(
        address consumer,
        address key,
        address worker,
        uint64 epoch,
        uint64 total,
        uint256 maxFeePerQuery,
        bytes32 inputHash,
        uint64 deadline
    ) public view returns (bytes32) {
        return
            _hashTypedDataV4(
                keccak256(
                    abi.encode(USAGE_TYPEHASH, consumer, key, worker, epoch, total, maxFeePerQuery, inputHash, deadline)
                )
            );
    }

    /// @inheritdoc IUsageSettlement
    function keyGrantDigest(KeyGrant calldata grant) external view returns (bytes32) {
        return _hashTypedDataV4(_keyGrantStructHash(grant));
    }
}
