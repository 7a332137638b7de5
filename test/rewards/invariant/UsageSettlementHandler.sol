// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IPolicyRegistry} from "../../../contracts/interfaces/IPolicyRegistry.sol";
import {IUsageSettlement} from "../../../contracts/interfaces/IUsageSettlement.sol";
import {HandlerBase} from "../../helpers/HandlerBase.sol";

/// @title UsageSettlementHandler
/// @notice Drives UsageSettlement through random sequences of settlements (fresh and replayed
/// queries, current and past epochs, batches that may overrun a quota or a deposit), quota
/// changes by governance, deposits, withdrawal requests, withdrawals and the passing of time.
/// Attempts the contract must refuse are made too; if one succeeds, a `ghost_` counter says so.
// A handler's state is its ghost books, one variable per thing counted.
// solhint-disable-next-line max-states-count
contract UsageSettlementHandler is HandlerBase {
    uint256 internal constant MAX_BATCH = 6;

    IUsageSettlement public immutable settlement;
    IPolicyRegistry public immutable policy;
    address public immutable worker;
    address public immutable timelock;

    /// @notice The consumers the fuzzer picks from, and their signing keys.
    address[] public consumers;
    uint256[] private _keys;

    /// @notice Every (consumer, epoch) that settled something, for the invariants to check.
    address[] public settledConsumers;
    uint64[] public settledEpochs;
    mapping(address consumer => mapping(uint64 epoch => bool seen)) private _seen;

    mapping(address consumer => uint64 nonce) private _nextNonce;
    mapping(address consumer => IUsageSettlement.SignedQuery) private _lastSettled;
    mapping(address consumer => mapping(uint64 epoch => uint64 queries)) public ghost_settled;

    uint256 public ghost_deposited;
    uint256 public ghost_withdrawn;
    uint256 public ghost_fees;
    uint256 public ghost_settlements;
    uint256 public ghost_refusals;
    /// @notice Settlements that took a consumer past its quota at the time: must stay 0.
    uint256 public ghost_quotaOverruns;
    /// @notice Replayed queries the contract accepted: must stay 0.
    uint256 public ghost_replaysAccepted;
    /// @notice Withdrawals paid before their unlock time: must stay 0.
    uint256 public ghost_earlyWithdrawals;

    constructor(
        IUsageSettlement settlement_,
        IPolicyRegistry policy_,
        address worker_,
        address timelock_,
        address[] memory consumers_,
        uint256[] memory keys_
    ) {
        settlement = settlement_;
        policy = policy_;
        worker = worker_;
        timelock = timelock_;
        consumers = consumers_;
        _keys = keys_;
    }

    /// @notice How many consumers the fuzzer picks from.
    function consumerCount() external view returns (uint256) {
        return consumers.length;
    }

    /// @notice How many (consumer, epoch) pairs settled something.
    function settledPairCount() external view returns (uint256) {
        return settledConsumers.length;
    }

    /// @notice The worker settles a batch of fresh queries of one consumer for a current or recent epoch.
    function settle(uint256 consumerSeed, uint256 count, uint256 epochsBack) external {
        uint256 i = consumerSeed % consumers.length;
        address consumer = consumers[i];
        uint64 current = policy.currentEpoch();
        uint64 epoch = current - uint64(_bound(epochsBack, 0, current < 2 ? current : 2));
        count = _bound(count, 1, MAX_BATCH);
        IUsageSettlement.SignedQuery[] memory batch = new IUsageSettlement.SignedQuery[](count);
        for (uint256 k = 0; k < count; ++k) {
            batch[k] = _sign(_keys[i], consumer, _nextNonce[consumer] + uint64(k), epoch);
        }
        uint256 fees = count * policy.feePerQuery();
        VM.prank(worker);
        try settlement.settle(batch) {
            _nextNonce[consumer] += uint64(count);
            _lastSettled[consumer] = batch[count - 1];
            ghost_settled[consumer][epoch] += uint64(count);
            ghost_fees += fees;
            ++ghost_settlements;
            if (settlement.settledUsage(consumer, epoch) > policy.quotaOf(consumer)) ++ghost_quotaOverruns;
            _remember(consumer, epoch);
        } catch {
            ++ghost_refusals;
        }
    }

    /// @notice The worker (or an attacker who saw it) submits an already settled query again.
    function replay(uint256 consumerSeed) external {
        address consumer = consumers[consumerSeed % consumers.length];
        IUsageSettlement.SignedQuery memory q = _lastSettled[consumer];
        if (q.consumer == address(0)) return;
        IUsageSettlement.SignedQuery[] memory batch = new IUsageSettlement.SignedQuery[](1);
        batch[0] = q;
        VM.prank(worker);
        try settlement.settle(batch) {
            ++ghost_replaysAccepted;
        } catch {
            ++ghost_refusals;
        }
    }

    /// @notice Governance changes a consumer's quota, possibly below what it already used.
    function setQuota(uint256 consumerSeed, uint256 quota) external {
        VM.prank(timelock);
        policy.setQuota(consumers[consumerSeed % consumers.length], uint64(_bound(quota, 0, 12)));
    }

    /// @notice Someone tops up a consumer's deposit.
    function deposit(uint256 consumerSeed, uint256 amount) external {
        amount = _bound(amount, 1, 0.01 ether);
        VM.deal(address(this), amount);
        settlement.deposit{value: amount}(consumers[consumerSeed % consumers.length]);
        ghost_deposited += amount;
    }

    /// @notice A consumer asks to withdraw part of its deposit.
    function requestWithdrawal(uint256 consumerSeed, uint256 amount) external {
        address consumer = consumers[consumerSeed % consumers.length];
        (uint256 balance, , ) = settlement.accountOf(consumer);
        if (balance == 0) return;
        VM.prank(consumer);
        settlement.requestWithdrawal(_bound(amount, 1, balance));
    }

    /// @notice A consumer tries to withdraw, unlocked or not.
    function withdraw(uint256 consumerSeed) external {
        address consumer = consumers[consumerSeed % consumers.length];
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

    function _sign(
        uint256 key,
        address consumer,
        uint64 nonce,
        uint64 epoch
    ) private view returns (IUsageSettlement.SignedQuery memory q) {
        q.consumer = consumer;
        q.inputHash = keccak256(abi.encode(consumer, nonce));
        q.nonce = nonce;
        q.epoch = epoch;
        q.deadline = uint64(block.timestamp + 1 hours);
        (uint8 v, bytes32 r, bytes32 s) = VM.sign(
            key,
            settlement.queryDigest(consumer, q.inputHash, nonce, epoch, q.deadline)
        );
        q.signature = abi.encodePacked(r, s, v);
    }

    function _remember(address consumer, uint64 epoch) private {
        if (_seen[consumer][epoch]) return;
        _seen[consumer][epoch] = true;
        settledConsumers.push(consumer);
        settledEpochs.push(epoch);
    }
}
