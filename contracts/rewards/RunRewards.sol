// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IContributorRewards} from "../interfaces/IContributorRewards.sol";
import {IModelCommitments} from "../interfaces/IModelCommitments.sol";
import {IPolicyRegistry} from "../interfaces/IPolicyRegistry.sol";
import {IRunRewards} from "../interfaces/IRunRewards.sol";

/// @title RunRewards
/// @notice Pays each committed model's fees to the contributions it learned from, pro rata to
/// their weights, by pull-claims with Merkle proofs. See {IRunRewards}.
/// @dev A run's root and total weight are copied from ModelCommitments when its pool is first
/// funded, and a pool's totals share one word, so a claim reads two slots of its own, the leaf's
/// claimed amount, and one contribution in ContributorRewards (its contributor, and whether a vote
/// voided it). The reentrancy guard lives in transient storage (EIP-1153): a claim pays no
/// storage refund dance for it.
contract RunRewards is IRunRewards, ReentrancyGuardTransient {
    IPolicyRegistry public immutable policy;
    IContributorRewards public immutable contributorRewards;
    IModelCommitments public immutable modelCommitments;

    /// @dev One word: 96 bits of wei are 79 billion ether, more than will ever pass through a pool;
    /// a commitment's total weight is a sum of uint64 weights recorded in ContributorRewards.
    struct Pool {
        uint96 received;
        uint96 paid;
        uint64 totalWeight;
    }

    /// @dev Invariant: `paid <= received`, and `paid` is the sum of the run's `_claimed` amounts.
    mapping(bytes32 runId => Pool) private _pools;
    /// @dev Copied from the run's commitment on first funding (a commitment cannot change).
    mapping(bytes32 runId => bytes32 root) private _roots;
    /// @dev Invariant: `_claimed[run][leaf] <= received * weight / totalWeight` (rounded down).
    mapping(bytes32 runId => mapping(bytes32 dataHash => uint256 amount)) private _claimed;

    /// @param policy_ The PolicyRegistry with the kill switch.
    /// @param contributorRewards_ Where contributions are recorded (and voided).
    /// @param modelCommitments_ Where models commit their contributions root and total weight.
    constructor(IPolicyRegistry policy_, IContributorRewards contributorRewards_, IModelCommitments modelCommitments_) {
        policy = policy_;
        contributorRewards = contributorRewards_;
        modelCommitments = modelCommitments_;
    }

    /// @inheritdoc IRunRewards
    function fundRun(bytes32 runId) external payable {
        if (msg.value == 0) revert RunRewardsZeroAmount();
        Pool memory pool = _pools[runId];
        if (pool.totalWeight == 0) {
            (bytes32 root, uint256 totalWeight) = modelCommitments.contributionsOf(runId);
            if (root == bytes32(0)) revert RunRewardsNotCommitted(runId);
            _roots[runId] = root;
            pool.totalWeight = SafeCast.toUint64(totalWeight);
        }
        pool.received = SafeCast.toUint96(uint256(pool.received) + msg.value);
        _pools[runId] = pool;
        emit RunFunded(runId, msg.sender, msg.value);
    }

    /// @inheritdoc IRunRewards
    function claim(
        bytes32 runId,
        bytes32 dataHash,
        uint256 weight,
        bytes32[] calldata proof
    ) external nonReentrant returns (uint256 amount) {
        if (policy.killSwitchEngaged()) revert RunRewardsKillSwitchEngaged();
        address contributor;
        (amount, contributor) = _settle(runId, dataHash, weight, proof);
        if (amount == 0) revert RunRewardsNothingToClaim(runId, dataHash);
        _pay(contributor, amount);
    }

    /// @inheritdoc IRunRewards
    /// @dev Consecutive leaves of one contributor are paid in one transfer; leaves of different
    /// contributors can share a batch.
    function claimMany(LeafClaim[] calldata claims) external nonReentrant returns (uint256 amount) {
        if (policy.killSwitchEngaged()) revert RunRewardsKillSwitchEngaged();
        address payee;
        uint256 owed;
        for (uint256 i = 0; i < claims.length; ++i) {
            LeafClaim calldata c = claims[i];
            (uint256 leafAmount, address contributor) = _settle(c.runId, c.dataHash, c.weight, c.proof);
            if (leafAmount == 0) continue;
            if (contributor != payee) {
                if (owed != 0) _pay(payee, owed);
                (payee, owed) = (contributor, 0);
            }
            owed += leafAmount;
            amount += leafAmount;
        }
        if (amount == 0) {
            revert RunRewardsNothingToClaim(
                claims.length == 0 ? bytes32(0) : claims[0].runId,
                claims.length == 0 ? bytes32(0) : claims[0].dataHash
            );
        }
        _pay(payee, owed);
    }

    /// @dev Checks the leaf and books its claim (effects before the transfer, on top of the guard).
    function _settle(
        bytes32 runId,
        bytes32 dataHash,
        uint256 weight,
        bytes32[] calldata proof
    ) private returns (uint256 amount, address contributor) {
        Pool memory pool = _pools[runId];
        if (pool.totalWeight == 0) revert RunRewardsNotFunded(runId);
        contributor = _contributor(dataHash);
        if (!MerkleProof.verifyCalldata(proof, _roots[runId], _leaf(dataHash, contributor, weight))) {
            revert RunRewardsInvalidProof(runId, dataHash, weight);
        }
        uint256 alreadyClaimed = _claimed[runId][dataHash];
        amount = _owed(pool, weight, alreadyClaimed);
        if (amount == 0) return (0, contributor);
        _claimed[runId][dataHash] = alreadyClaimed + amount;
        // Cannot overflow: `_owed` keeps `paid` at most `received`, a uint96.
        pool.paid += uint96(amount);
        _pools[runId] = pool;
        emit RunRewardClaimed(runId, dataHash, contributor, amount);
    }

    /// @dev The leaf's share of the pool less what it claimed, capped at what is left of the run's
    /// pool: a tree whose weights add up to more than its committed total (an operator's mistake
    /// or fraud) can never take other runs' money.
    function _owed(Pool memory pool, uint256 weight, uint256 alreadyClaimed) private pure returns (uint256) {
        uint256 share = Math.mulDiv(pool.received, weight, pool.totalWeight);
        if (share <= alreadyClaimed) return 0;
        return Math.min(share - alreadyClaimed, pool.received - pool.paid);
    }

    /// @dev The contribution's contributor, refused once a vote voided it.
    function _contributor(bytes32 dataHash) private view returns (address) {
        IContributorRewards.Contribution memory c = contributorRewards.contributionOf(dataHash);
        if (c.voided) revert RunRewardsContributionVoided(dataHash);
        return c.contributor;
    }

    /// @dev The leaf as OpenZeppelin's StandardMerkleTree hashes it: the ABI encoding of its values,
    /// hashed twice (so that no 64-byte inner node can pass as a leaf).
    function _leaf(bytes32 dataHash, address contributor, uint256 weight) private pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(dataHash, contributor, weight))));
    }

    function _pay(address to, uint256 amount) private {
        (bool ok, ) = to.call{value: amount}("");
        if (!ok) revert RunRewardsTransferFailed(to, amount);
    }

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IRunRewards
    function runPool(bytes32 runId) external view returns (RunPool memory) {
        Pool memory pool = _pools[runId];
        return RunPool(pool.received, pool.paid, pool.totalWeight, _roots[runId]);
    }

    /// @inheritdoc IRunRewards
    function claimable(
        bytes32 runId,
        bytes32 dataHash,
        uint256 weight,
        bytes32[] calldata proof
    ) external view returns (uint256) {
        Pool memory pool = _pools[runId];
        if (pool.totalWeight == 0) return 0;
        IContributorRewards.Contribution memory c = contributorRewards.contributionOf(dataHash);
        if (c.voided || !MerkleProof.verifyCalldata(proof, _roots[runId], _leaf(dataHash, c.contributor, weight))) {
            return 0;
        }
        return _owed(pool, weight, _claimed[runId][dataHash]);
    }

    /// @inheritdoc IRunRewards
    function claimed(bytes32 runId, bytes32 dataHash) external view returns (uint256) {
        return _claimed[runId][dataHash];
    }
}
