// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IContributorRewards} from "../interfaces/IContributorRewards.sol";
import {IPolicyRegistry} from "../interfaces/IPolicyRegistry.sol";
import {IUsageSettlement} from "../interfaces/IUsageSettlement.sol";

/// @title UsageSettlement
/// @notice Settles consumers' signed queries in batches. See {IUsageSettlement}.
contract UsageSettlement is IUsageSettlement, EIP712, ReentrancyGuard {
    /// @dev The type consumers sign; the worker's TypeScript builds the same (tested against `queryDigest`).
    bytes32 public constant QUERY_TYPEHASH = keccak256(
        "Query(address consumer,bytes32 inputHash,uint64 nonce,uint64 epoch,uint64 deadline)"
    );

    IPolicyRegistry public immutable policy;
    IContributorRewards public immutable rewards;

    struct Account {
        uint256 balance;
        uint256 pendingWithdrawal;
        uint64 unlocksAt;
    }

    mapping(address consumer => Account) private _accounts;
    /// @dev Invariant: `_settled[c][e] <= policy.quotaOf(c)` at the time of each settlement.
    mapping(address consumer => mapping(uint64 epoch => uint64 queries)) private _settled;
    /// @dev Unordered nonces as a bitmap (Permit2's layout): word = nonce >> 8, bit = nonce & 255.
    mapping(address consumer => mapping(uint256 word => uint256 bits)) private _nonces;

    /// @param policy_ The PolicyRegistry with quotas, the fee, workers and the kill switch.
    /// @param rewards_ Where fees go: the pool of the epoch the queries counted in.
    constructor(IPolicyRegistry policy_, IContributorRewards rewards_) EIP712("DAO AI Query", "1") {
        policy = policy_;
        rewards = rewards_;
    }

    // ---------------------------------------------------------------------------------------------
    // Deposits
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IUsageSettlement
    function deposit(address consumer) external payable {
        if (msg.value == 0) revert UsageInvalidAmount(0);
        _accounts[consumer].balance += msg.value;
        emit Deposited(consumer, msg.sender, msg.value);
    }

    /// @inheritdoc IUsageSettlement
    function requestWithdrawal(uint256 amount) external {
        Account storage account = _accounts[msg.sender];
        if (amount == 0 || amount > account.balance) revert UsageInvalidAmount(amount);
        uint64 unlocksAt = policy.epochEnd(policy.currentEpoch()) + policy.epochLength();
        account.pendingWithdrawal = amount;
        account.unlocksAt = unlocksAt;
        emit WithdrawalRequested(msg.sender, amount, unlocksAt);
    }

    /// @inheritdoc IUsageSettlement
    function withdraw() external nonReentrant returns (uint256 amount) {
        Account storage account = _accounts[msg.sender];
        if (account.pendingWithdrawal == 0 || block.timestamp < account.unlocksAt) {
            revert UsageWithdrawalLocked(account.unlocksAt);
        }
        amount = account.pendingWithdrawal < account.balance ? account.pendingWithdrawal : account.balance;
        account.balance -= amount;
        account.pendingWithdrawal = 0;
        account.unlocksAt = 0;
        emit Withdrawn(msg.sender, amount);
        (bool ok, ) = msg.sender.call{value: amount}("");
        if (!ok) revert UsageTransferFailed(msg.sender, amount);
    }

    // ---------------------------------------------------------------------------------------------
    // Settlement
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IUsageSettlement
    /// @dev Fees are forwarded per run of queries with the same epoch, so a batch sorted by epoch
    /// makes one transfer per epoch.
    function settle(SignedQuery[] calldata queries) external nonReentrant {
        if (!policy.isWorker(msg.sender)) revert UsageNotWorker(msg.sender);
        if (policy.killSwitchEngaged()) revert UsageKillSwitchEngaged();
        uint64 current = policy.currentEpoch();
        uint256 fee = policy.feePerQuery();

        uint256 pendingFees = 0;
        uint64 pendingEpoch = 0;
        for (uint256 i = 0; i < queries.length; ++i) {
            SignedQuery calldata q = queries[i];
            if (q.epoch > current) revert UsageFutureEpoch(q.epoch, current);
            _spendNonce(q.consumer, q.nonce);
            bytes32 digest = queryDigest(q.consumer, q.inputHash, q.nonce, q.epoch, q.deadline);
            if (!SignatureChecker.isValidSignatureNow(q.consumer, digest, q.signature)) {
                revert UsageInvalidSignature(q.consumer, q.nonce);
            }
            uint64 used = ++_settled[q.consumer][q.epoch];
            uint64 quota = policy.quotaOf(q.consumer);
            if (used > quota) revert UsageExceedsQuota(q.consumer, q.epoch, used, quota);
            _charge(q.consumer, fee);
            emit UsageSettled(q.consumer, q.epoch, 1, used, fee);

            if (fee != 0) {
                if (pendingFees != 0 && q.epoch != pendingEpoch) {
                    rewards.fund{value: pendingFees}(pendingEpoch);
                    pendingFees = 0;
                }
                pendingEpoch = q.epoch;
                pendingFees += fee;
            }
        }
        if (pendingFees != 0) rewards.fund{value: pendingFees}(pendingEpoch);
    }

    function _spendNonce(address consumer, uint64 nonce) private {
        uint256 bit = 1 << (nonce & 255);
        mapping(uint256 => uint256) storage words = _nonces[consumer];
        uint256 word = words[nonce >> 8];
        if (word & bit != 0) revert UsageNonceAlreadyUsed(consumer, nonce);
        words[nonce >> 8] = word | bit;
    }

    function _charge(address consumer, uint256 fee) private {
        if (fee == 0) return;
        Account storage account = _accounts[consumer];
        if (account.balance < fee) revert UsageInsufficientDeposit(consumer, account.balance, fee);
        account.balance -= fee;
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
    function settledUsage(address consumer, uint64 epoch) external view returns (uint64) {
        return _settled[consumer][epoch];
    }

    /// @inheritdoc IUsageSettlement
    function isNonceUsed(address consumer, uint64 nonce) external view returns (bool) {
        return _nonces[consumer][nonce >> 8] & (1 << (nonce & 255)) != 0;
    }

    /// @inheritdoc IUsageSettlement
    function queryDigest(
        address consumer,
        bytes32 inputHash,
        uint64 nonce,
        uint64 epoch,
        uint64 deadline
    ) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(QUERY_TYPEHASH, consumer, inputHash, nonce, epoch, deadline)));
    }
}
