// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IPolicyRegistry} from "../../../contracts/interfaces/IPolicyRegistry.sol";
import {IUsageSettlement} from "../../../contracts/interfaces/IUsageSettlement.sol";
import {HandlerBase} from "../../helpers/HandlerBase.sol";

/// @title UsageSettlementHandler
/// @notice Drives UsageSettlement through random sequences of voucher and bearer-key settlements
/// (two workers, current and past epochs, signed fees below and above the policy's), replays of
/// settled lanes, quota and fee changes by governance, sweeps, deposits, withdrawals and the
/// passing of time. Attempts the contract must refuse are made too; if one succeeds, a `ghost_`
/// counter says so.
// A handler's state is its ghost books, one variable per thing counted.
// solhint-disable-next-line max-states-count
contract UsageSettlementHandler is HandlerBase {
    uint64 internal constant MAX_QUERIES = 6;
    /// @notice The cap of every consumer's bearer key.
    uint64 public constant KEY_CAP = 25;

    // Storage, not immutables: EDR finds a fuzz target by comparing its code with the build's, and
    // immutables embedded at every use make this handler's code differ too much to be found.
    IUsageSettlement public settlement;
    IPolicyRegistry public policy;
    address public timelock;
    uint256 public baseFee;

    address[] public consumers;
    uint256[] private _keys;
    address[2] public workers;
    /// @notice The bearer key each consumer granted (any worker, `KEY_CAP` queries, `baseFee` each).
    address[] public appKeys;
    IUsageSettlement.KeyGrant[] private _grants;
    bytes[] private _grantSignatures;

    /// @notice Every (consumer, epoch) that settled something, and every epoch that did.
    address[] public settledConsumers;
    uint64[] public settledEpochs;
    uint64[] public feeEpochs;
    mapping(address consumer => mapping(uint64 epoch => bool seen)) private _seen;
    mapping(uint64 epoch => bool seen) private _feeEpochSeen;

    /// @dev The ghost lane totals, by keccak256(consumer, key, worker, epoch).
    mapping(bytes32 lane => uint64 total) private _laneTotals;
    mapping(address consumer => mapping(uint64 epoch => uint64 used)) public ghost_used;
    mapping(address consumer => IUsageSettlement.Voucher) private _lastVoucher;
    mapping(address consumer => address worker) private _lastVoucherWorker;

    uint256 public ghost_deposited;
    uint256 public ghost_withdrawn;
    /// @notice Fees taken from deposits by settlements.
    uint256 public ghost_fees;
    uint256 public ghost_settlements;
    uint256 public ghost_refusals;
    /// @notice Settlements whose lanes summed past the consumer's quota at the time: must stay 0.
    uint256 public ghost_quotaOverruns;
    /// @notice Settlements that took more than the voucher or grant authorised: must stay 0.
    uint256 public ghost_overcharges;
    /// @notice Lanes charged again for a total already settled: must stay 0.
    uint256 public ghost_doubleCharges;
    /// @notice Keys charged past their cap: must stay 0.
    uint256 public ghost_capOverruns;
    /// @notice Withdrawals paid before their unlock time: must stay 0.
    uint256 public ghost_earlyWithdrawals;

    /// @param grants_ Each consumer's grant of its bearer key (any worker, `KEY_CAP` queries at
    /// most the policy's fee each), signed in `grantSignatures_` by the test.
    constructor(
        IUsageSettlement settlement_,
        IPolicyRegistry policy_,
        address worker_,
        address worker2_,
        address timelock_,
        address[] memory consumers_,
        uint256[] memory keys_,
        IUsageSettlement.KeyGrant[] memory grants_,
        bytes[] memory grantSignatures_
    ) {
        settlement = settlement_;
        policy = policy_;
        workers = [worker_, worker2_];
        timelock = timelock_;
        consumers = consumers_;
        _keys = keys_;
        baseFee = policy_.feePerQuery();
        for (uint256 i = 0; i < grants_.length; ++i) {
            appKeys.push(grants_[i].key);
            _grants.push(grants_[i]);
            _grantSignatures.push(grantSignatures_[i]);
        }
    }

    /// @notice How many consumers the fuzzer picks from.
    function consumerCount() external view returns (uint256) {
        return consumers.length;
    }

    /// @notice How many (consumer, epoch) pairs settled something.
    function settledPairCount() external view returns (uint256) {
        return settledConsumers.length;
    }

    /// @notice How many epochs had fees.
    function feeEpochCount() external view returns (uint256) {
        return feeEpochs.length;
    }

    /// @notice A worker settles a consumer's voucher for `queries` more queries of its lane, signed
    /// with a maximum fee below, at or above the policy's.
    function settleVoucher(uint256 seed, uint256 queries, uint256 epochsBack, uint256 feeSeed) external {
        uint256 i = seed % consumers.length;
        address consumer = consumers[i];
        address worker = workers[(seed >> 8) % 2];
        uint64 epoch = _epoch(epochsBack);
        bytes32 lane = keccak256(abi.encode(consumer, address(0), worker, epoch));
        uint64 q = uint64(_bound(queries, 1, MAX_QUERIES));
        uint256 maxFee = (baseFee * _bound(feeSeed, 1, 4)) / 2;

        IUsageSettlement.Voucher memory v;
        v.consumer = consumer;
        v.epoch = epoch;
        v.total = _laneTotals[lane] + q;
        v.maxFeePerQuery = maxFee;
        v.inputHash = keccak256(abi.encode(lane, v.total));
        v.deadline = uint64(block.timestamp);
        v.signature = _sign(
            _keys[i],
            settlement.usageDigest(consumer, address(0), worker, epoch, v.total, maxFee, v.inputHash, v.deadline)
        );
        IUsageSettlement.Voucher[] memory batch = new IUsageSettlement.Voucher[](1);
        batch[0] = v;
        uint256 before = _balance(consumer);
        VM.prank(worker);
        try settlement.settle(batch) {
            _settled(consumer, epoch, lane, v.total, q, before, q * maxFee);
            _lastVoucher[consumer] = v;
            _lastVoucherWorker[consumer] = worker;
        } catch {
            ++ghost_refusals;
        }
    }

    /// @notice A worker settles a consumer's bearer key lane with its own count.
    function settleKey(uint256 seed, uint256 queries, uint256 epochsBack) external {
        uint256 i = seed % consumers.length;
        address consumer = consumers[i];
        address worker = workers[(seed >> 8) % 2];
        uint64 epoch = _epoch(epochsBack);
        bytes32 lane = keccak256(abi.encode(consumer, appKeys[i], worker, epoch));
        uint64 q = uint64(_bound(queries, 1, MAX_QUERIES));
        IUsageSettlement.KeySettlement[] memory batch = new IUsageSettlement.KeySettlement[](1);
        batch[0] = IUsageSettlement.KeySettlement(
            _grants[i],
            _grantSignatures[i],
            epoch,
            _laneTotals[lane] + q,
            bytes32(0),
            0,
            ""
        );
        uint256 before = _balance(consumer);
        VM.prank(worker);
        try settlement.settleKeys(batch) {
            _settled(consumer, epoch, lane, batch[0].total, q, before, q * baseFee);
            (uint64 used, ) = settlement.keyState(consumer, appKeys[i]);
            if (used > KEY_CAP) ++ghost_capOverruns;
        } catch {
            ++ghost_refusals;
        }
    }

    /// @notice The worker (or anyone who saw it) submits a consumer's last settled voucher again.
    function replay(uint256 seed) external {
        address consumer = consumers[seed % consumers.length];
        IUsageSettlement.Voucher memory v = _lastVoucher[consumer];
        if (v.consumer == address(0)) return;
        IUsageSettlement.Voucher[] memory batch = new IUsageSettlement.Voucher[](1);
        batch[0] = v;
        VM.prank(_lastVoucherWorker[consumer]);
        try settlement.settle(batch) {
            ++ghost_doubleCharges;
        } catch {
            ++ghost_refusals;
        }
    }

    /// @notice Governance changes a consumer's quota, possibly below what it already used.
    function setQuota(uint256 seed, uint256 quota) external {
        VM.prank(timelock);
        policy.setQuota(consumers[seed % consumers.length], uint64(_bound(quota, 1, 20)));
    }

    /// @notice Governance changes the fee per query, up to three times the starting fee.
    function setFee(uint256 fee) external {
        VM.prank(timelock);
        policy.setQueryFee(_bound(fee, 0, 3 * baseFee));
    }

    /// @notice Anyone sweeps an epoch's fees (refused while its window is open or if swept).
    function sweep(uint256 epochsBack) external {
        uint64 current = policy.currentEpoch();
        uint64 epoch = current - uint64(_bound(epochsBack, 0, current));
        try settlement.sweepFees(epoch) {} catch {
            ++ghost_refusals;
        }
    }

    /// @notice Someone tops up a consumer's deposit.
    function deposit(uint256 seed, uint256 amount) external {
        amount = _bound(amount, 1, 0.05 ether);
        VM.deal(address(this), amount);
        settlement.deposit{value: amount}(consumers[seed % consumers.length]);
        ghost_deposited += amount;
    }

    /// @notice A consumer asks to withdraw part of its deposit.
    function requestWithdrawal(uint256 seed, uint256 amount) external {
        address consumer = consumers[seed % consumers.length];
        uint256 balance = _balance(consumer);
        if (balance == 0) return;
        VM.prank(consumer);
        settlement.requestWithdrawal(_bound(amount, 1, balance));
    }

    /// @notice A consumer tries to withdraw, unlocked or not.
    function withdraw(uint256 seed) external {
        address consumer = consumers[seed % consumers.length];
        (, , uint64 unlocksAt) = settlement.accountOf(consumer);
        VM.prank(consumer);
        try settlement.withdraw() returns (uint256 amount) {
            ghost_withdrawn += amount;
            if (block.timestamp < unlocksAt) ++ghost_earlyWithdrawals;
        } catch {
            ++ghost_refusals;
        }
    }

    /// @notice Time passes: up to one and a half epochs.
    function warp(uint256 seconds_) external {
        VM.warp(block.timestamp + _bound(seconds_, 1, (3 * uint256(policy.epochLength())) / 2));
    }

    /// @dev The current epoch, or the previous or the one before (refused: its window closed).
    function _epoch(uint256 epochsBack) private view returns (uint64) {
        uint64 current = policy.currentEpoch();
        return current - uint64(_bound(epochsBack, 0, current < 2 ? current : 2));
    }

    function _settled(
        address consumer,
        uint64 epoch,
        bytes32 lane,
        uint64 total,
        uint64 queries,
        uint256 balanceBefore,
        uint256 authorised
    ) private {
        if (total <= _laneTotals[lane]) ++ghost_doubleCharges;
        _laneTotals[lane] = total;
        ghost_used[consumer][epoch] += queries;
        if (ghost_used[consumer][epoch] > policy.quotaAt(consumer, epoch)) ++ghost_quotaOverruns;
        uint256 charged = balanceBefore - _balance(consumer);
        if (charged > authorised) ++ghost_overcharges;
        ghost_fees += charged;
        ++ghost_settlements;
        if (!_seen[consumer][epoch]) {
            _seen[consumer][epoch] = true;
            settledConsumers.push(consumer);
            settledEpochs.push(epoch);
        }
        if (!_feeEpochSeen[epoch]) {
            _feeEpochSeen[epoch] = true;
            feeEpochs.push(epoch);
        }
    }

    function _balance(address consumer) private view returns (uint256 balance) {
        (balance, , ) = settlement.accountOf(consumer);
    }

    function _sign(uint256 key, bytes32 digest) private pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = VM.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }
}
