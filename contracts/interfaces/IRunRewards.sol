// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IRunRewards
/// @notice Rewards follow use: the fees paid for the queries a model answered go to the
/// contributions that model learned from. Each committed model names them in ModelCommitments as
/// the root of an OpenZeppelin StandardMerkleTree over `(bytes32 dataHash, address contributor,
/// uint256 weight)`; its run's pool (fees swept by UsageSettlement, treasury grants) is shared pro
/// rata to the leaves' weights, and a leaf's contributor claims with the leaf's proof, again
/// whenever more fees arrive.
/// @dev Invariants: per run, `paid <= received`, and `paid` is the sum of its leaves' `claimed`;
/// a leaf's `claimed` never exceeds `received * weight / totalWeight` (rounded down), so the sum
/// of the claims never exceeds the pool.
interface IRunRewards {
    /// @notice A run's pool.
    /// @param received Everything the run's pool was ever funded with.
    /// @param paid Everything claimed from it.
    /// @param totalWeight The committed sum of the tree's weights (zero until first funded).
    /// @param root The committed contributions root (zero until first funded).
    struct RunPool {
        uint256 received;
        uint256 paid;
        uint256 totalWeight;
        bytes32 root;
    }

    /// @notice One leaf to claim for, in `claimMany`.
    struct LeafClaim {
        bytes32 runId;
        bytes32 dataHash;
        uint256 weight;
        bytes32[] proof;
    }

    /// @notice `amount` wei was added to `runId`'s pool by `from`.
    event RunFunded(bytes32 indexed runId, address indexed from, uint256 amount);
    /// @notice The contributor of `dataHash` was paid `amount` wei from `runId`'s pool.
    event RunRewardClaimed(
        bytes32 indexed runId,
        bytes32 indexed dataHash,
        address indexed contributor,
        uint256 amount
    );

    /// @notice Funding must be more than zero.
    error RunRewardsZeroAmount();
    /// @notice The run has no model commitment, so nobody can be paid from its pool.
    error RunRewardsNotCommitted(bytes32 runId);
    /// @notice The run's pool was never funded: there is nothing to claim.
    error RunRewardsNotFunded(bytes32 runId);
    /// @notice The proof does not show `(dataHash, contributor, weight)` in the run's tree.
    error RunRewardsInvalidProof(bytes32 runId, bytes32 dataHash, uint256 weight);
    /// @notice There is nothing (left) to claim for this leaf.
    error RunRewardsNothingToClaim(bytes32 runId, bytes32 dataHash);
    /// @notice A vote voided this contribution in ContributorRewards (poisoned data, say): it is
    /// never paid, from any pool.
    error RunRewardsContributionVoided(bytes32 dataHash);
    /// @notice The kill switch is engaged: no reward is paid until a vote lifts it, as in
    /// ContributorRewards (so that poisoned data can be voided before it is paid).
    error RunRewardsKillSwitchEngaged();
    /// @notice Sending `amount` wei to `to` failed.
    error RunRewardsTransferFailed(address to, uint256 amount);

    /// @notice Add the sent value to `runId`'s pool. UsageSettlement sweeps the fees of the
    /// queries the run's model answered here; the treasury grants through proposals. Refused for
    /// a run without a model commitment. Allowed while the kill switch is engaged.
    function fundRun(bytes32 runId) external payable;
    /// @notice Pay the leaf's contributor what its weight earned from `runId`'s pool and was not
    /// claimed yet. Anyone may call it (the contributor, or someone paying its gas): the money
    /// goes to the leaf's contributor, whoever sends it. Refused for a bad proof, a voided
    /// contribution, nothing to claim, or while the kill switch is engaged.
    function claim(
        bytes32 runId,
        bytes32 dataHash,
        uint256 weight,
        bytes32[] calldata proof
    ) external returns (uint256 amount);
    /// @notice Claim for several leaves, each paid to its contributor; leaves with nothing to claim
    /// are skipped, and it is refused only if none had anything.
    function claimMany(LeafClaim[] calldata claims) external returns (uint256 amount);

    /// @notice A run's pool: what it received and paid, and its committed total weight and root.
    function runPool(bytes32 runId) external view returns (RunPool memory);
    /// @notice What the leaf can claim now (0 for a bad proof, a voided contribution, or a run
    /// never funded); it ignores the kill switch.
    function claimable(
        bytes32 runId,
        bytes32 dataHash,
        uint256 weight,
        bytes32[] calldata proof
    ) external view returns (uint256);
    /// @notice What the leaf of `dataHash` has claimed from `runId`'s pool.
    function claimed(bytes32 runId, bytes32 dataHash) external view returns (uint256);
}
