// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IContributorRewards} from "../interfaces/IContributorRewards.sol";
import {IPolicyRegistry} from "../interfaces/IPolicyRegistry.sol";

/// @title PerQueryUsageSettlement
/// @notice Test-only, never deployed by the system: the per-query settlement UsageSettlement
/// replaced (issue 14), kept as the baseline `npm run bench -- gas` measures cumulative vouchers
/// against. Each signed query is verified, counted and charged on chain one by one.
contract PerQueryUsageSettlement is EIP712, ReentrancyGuard {
    /// @notice A query as the consumer signed it, with its signature.
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
    /// @notice Deposits must be more than zero.
    error UsageInvalidAmount(uint256 amount);
    /// @dev The type consumers sign; the worker's TypeScript builds the same (tested against `queryDigest`).
    bytes32 public constant QUERY_TYPEHASH = keccak256(
        "Query(address consumer,bytes32 inputHash,uint64 nonce,uint64 epoch,uint64 deadline)"
    );

    IPolicyRegistry public immutable policy;
    IContributorRewards public immutable rewards;

    struct Account {
        uint256 balance;
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

    /// @notice Add the sent value to `consumer`'s deposit.
    function deposit(address consumer) external payable {
        if (msg.value == 0) revert UsageInvalidAmount(0);
        _accounts[consumer].balance += msg.value;
        emit Deposited(consumer, msg.sender, msg.value);
    }

    // ---------------------------------------------------------------------------------------------
    // Settlement
    // ---------------------------------------------------------------------------------------------

    /// @dev Fees are forwarded per run of queries with the same epoch, so a batch sorted by epoch
    /// makes one transfer per epoch.
    /// @notice Settle a batch of signed queries. Authorised workers only. All or nothing.
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

    /// @notice The EIP-712 digest a consumer signs for a query.
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
