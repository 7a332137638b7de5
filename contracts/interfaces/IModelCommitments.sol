// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IModelCommitments
/// @notice "Verified AI with delayed publication": when an approved training run finishes, its
/// operator commits the SHA-256 of the model's weights and of its training set; the weights stay
/// encrypted until the governed reveal delay has passed, after which they can be revealed and
/// anyone can check them against the committed hash.
interface IModelCommitments {
    /// @notice A committed model.
    /// @param weightsHash SHA-256 of the plaintext weights file.
    /// @param trainingSetHash SHA-256 over the training set (the sorted data hashes it used).
    /// @param encryptedWeightsURI Where the encrypted weights are stored (an IPFS CID, say).
    /// @param committedAt When the commitment was made.
    /// @param revealableAt When the weights may be revealed (commit time plus the reveal delay then in force).
    /// @param revealedURI Where the plaintext weights were published (empty until revealed).
    struct Commitment {
        bytes32 weightsHash;
        bytes32 trainingSetHash;
        string encryptedWeightsURI;
        address operator;
        uint64 committedAt;
        uint64 revealableAt;
        string revealedURI;
    }

    /// @notice A trained model was committed.
    event ModelCommitted(
        bytes32 indexed runId,
        bytes32 weightsHash,
        bytes32 trainingSetHash,
        string encryptedWeightsURI,
        address indexed operator,
        uint64 revealableAt
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
    /// @notice The kill switch is engaged: no model is committed or revealed.
    error ModelKillSwitchEngaged();
    /// @notice The DAO withdrew the run after its model was committed (it revoked the run, or
    /// removed its operator): the model is not revealed.
    error ModelRunRevoked(bytes32 runId);

    /// @notice Commit the model of an approved run. The run's operator only.
    function commitModel(
        bytes32 runId,
        bytes32 weightsHash,
        bytes32 trainingSetHash,
        string calldata encryptedWeightsURI
    ) external;
    /// @notice Reveal where the plaintext weights are, once the delay has passed. The run's operator
    /// only, while the kill switch is not engaged and the run is not revoked (its approval may
    /// have expired: runs are short, reveal delays long). Simulate it before publishing the
    /// weights anywhere: a refused reveal must leave them unpublished.
    function revealModel(bytes32 runId, string calldata revealedURI) external;
    /// @notice The commitment for `runId` (zero `committedAt`: none).
    function commitmentOf(bytes32 runId) external view returns (Commitment memory);
    /// @notice Whether `weights` hash to what was committed for `runId`.
    function verifyWeightsHash(bytes32 runId, bytes32 weightsHash) external view returns (bool);
}
