// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IModelCommitments
/// @notice "Verified AI with delayed publication": when an approved training run finishes, its
/// operator commits the SHA-256 of the model's weights and of its training set; the weights stay
/// encrypted until the governed reveal delay has passed, after which they can be revealed and
/// anyone can check them against the committed hash. The commitment also names the contributions
/// the model learned from, as a Merkle root over (dataHash, contributor, weight): the fees paid for
/// the queries the model answers are shared among them (see {IRunRewards}).
interface IModelCommitments {
    /// @notice A committed model.
    /// @param weightsHash SHA-256 of the plaintext weights file.
    /// @param trainingSetHash SHA-256 over the training set (the sorted data hashes it used).
    /// @param encryptedWeightsURI Where the encrypted weights are stored (an IPFS CID, say).
    /// @param committedAt When the commitment was made.
    /// @param revealableAt When the weights may be revealed (commit time plus the reveal delay then in force).
    /// @param revealedURI Where the plaintext weights were published (empty until revealed).
    /// @param contributionsRoot Root of the OpenZeppelin StandardMerkleTree over the leaves
    /// `(bytes32 dataHash, address contributor, uint256 weight)` of the contributions the run used,
    /// each weight as recorded in ContributorRewards.
    /// @param totalWeight The sum of the leaves' weights: a leaf earns `weight / totalWeight` of the
    /// model's fees.
    /// @param contributionsURI Where the tree's `dump()` JSON is stored (an IPFS CID), from which
    /// contributors take their proofs.
    struct Commitment {
        bytes32 weightsHash;
        bytes32 trainingSetHash;
        string encryptedWeightsURI;
        address operator;
        uint64 committedAt;
        uint64 revealableAt;
        string revealedURI;
        bytes32 contributionsRoot;
        uint256 totalWeight;
        string contributionsURI;
    }

    /// @notice What a run commits besides its weights: the contributions it used.
    /// @param root The contributions tree's root (see {Commitment}).
    /// @param totalWeight The sum of the tree's weights.
    /// @param uri Where the tree's dump is stored.
    struct Contributions {
        bytes32 root;
        uint256 totalWeight;
        string uri;
    }

    /// @notice A trained model was committed.
    event ModelCommitted(
        bytes32 indexed runId,
        bytes32 weightsHash,
        bytes32 trainingSetHash,
        string encryptedWeightsURI,
        address indexed operator,
        uint64 revealableAt,
        bytes32 contributionsRoot,
        uint256 totalWeight,
        string contributionsURI
    );
    /// @notice A committed model's weights were revealed; check them against `weightsHash`.
    event ModelRevealed(bytes32 indexed runId, bytes32 weightsHash, string revealedURI);

    /// @notice The caller is not the operator the run was approved for.
    error ModelNotOperator(bytes32 runId, address caller, address operator);
    /// @notice The run is not approved (unknown, revoked or expired).
    error ModelRunNotApproved(bytes32 runId);
    /// @notice This run already has a commitment.
    error ModelAlreadyCommitted(bytes32 runId);
    /// @notice This run has no commitment.
    error ModelNotCommitted(bytes32 runId);
    /// @notice The reveal delay has not passed.
    error ModelRevealTooEarly(bytes32 runId, uint64 revealableAt);
    /// @notice The model was already revealed.
    error ModelAlreadyRevealed(bytes32 runId);
    /// @notice A hash or URI given was empty.
    error ModelEmptyValue();
    /// @notice The contributions root or their total weight is zero: a model names the
    /// contributions it learned from, so that its fees can be paid to them.
    error ModelNoContributions(bytes32 contributionsRoot, uint256 totalWeight);
    /// @notice The kill switch is engaged: no model is committed or revealed.
    error ModelKillSwitchEngaged();
    /// @notice The DAO withdrew the run after its model was committed (it revoked the run, or
    /// removed its operator): the model is not revealed.
    error ModelRunRevoked(bytes32 runId);

    /// @notice Commit the model of an approved run and the contributions it used. The run's operator only.
    function commitModel(
        bytes32 runId,
        bytes32 weightsHash,
        bytes32 trainingSetHash,
        string calldata encryptedWeightsURI,
        Contributions calldata contributions
    ) external;
    /// @notice Reveal where the plaintext weights are, once the delay has passed. The run's operator
    /// only, while the kill switch is not engaged and the run is not revoked (its approval may
    /// have expired: runs are short, reveal delays long). Simulate it before publishing the
    /// weights anywhere: a refused reveal must leave them unpublished.
    function revealModel(bytes32 runId, string calldata revealedURI) external;
    /// @notice The commitment for `runId` (zero `committedAt`: none).
    function commitmentOf(bytes32 runId) external view returns (Commitment memory);
    /// @notice The run's contributions root and their total weight (both zero: no commitment), in
    /// one call for the contracts that pay the model's fees.
    function contributionsOf(bytes32 runId) external view returns (bytes32 root, uint256 totalWeight);
    /// @notice Whether `weights` hash to what was committed for `runId`.
    function verifyWeightsHash(bytes32 runId, bytes32 weightsHash) external view returns (bool);
}
