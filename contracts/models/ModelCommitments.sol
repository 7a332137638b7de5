// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IModelCommitments} from "../interfaces/IModelCommitments.sol";
import {IPolicyRegistry} from "../interfaces/IPolicyRegistry.sol";

/// @title ModelCommitments
/// @notice Commitments to trained models and their delayed reveal. See {IModelCommitments}.
/// @dev The contract stores hashes and locations only; hashing weights (megabytes to gigabytes)
/// happens off chain, where anyone can recompute it with the repository's verify command.
contract ModelCommitments is IModelCommitments {
    IPolicyRegistry public immutable policy;

    mapping(bytes32 runId => Commitment) private _commitments;

    /// @param policy_ The PolicyRegistry with approved runs, the reveal delay and the kill switch.
    constructor(IPolicyRegistry policy_) {
        policy = policy_;
    }

    /// @inheritdoc IModelCommitments
    function commitModel(
        bytes32 runId,
        bytes32 weightsHash,
        bytes32 trainingSetHash,
        string calldata encryptedWeightsURI,
        Contributions calldata contributions
    ) external {
        if (policy.killSwitchEngaged()) revert ModelKillSwitchEngaged();
        if (!policy.isTrainingRunApproved(runId)) revert ModelRunNotApproved(runId);
        address operator = policy.trainingRun(runId).operator;
        if (msg.sender != operator) revert ModelNotOperator(runId, msg.sender, operator);
        if (_commitments[runId].committedAt != 0) revert ModelAlreadyCommitted(runId);
        if (weightsHash == bytes32(0) || trainingSetHash == bytes32(0) || bytes(encryptedWeightsURI).length == 0) {
            revert ModelEmptyValue();
        }
        if (contributions.root == bytes32(0) || contributions.totalWeight == 0) {
            revert ModelNoContributions(contributions.root, contributions.totalWeight);
        }
        if (bytes(contributions.uri).length == 0) revert ModelEmptyValue();
        // The delay in force at commit time applies, so a later change cannot shorten it after the fact.
        uint64 revealableAt = uint64(block.timestamp) + policy.revealDelay();
        _commitments[runId] = Commitment(
            weightsHash,
            trainingSetHash,
            encryptedWeightsURI,
            operator,
            uint64(block.timestamp),
            revealableAt,
            "",
            contributions.root,
            contributions.totalWeight,
            contributions.uri
        );
        emit ModelCommitted(
            runId,
            weightsHash,
            trainingSetHash,
            encryptedWeightsURI,
            operator,
            revealableAt,
            contributions.root,
            contributions.totalWeight,
            contributions.uri
        );
    }

    /// @inheritdoc IModelCommitments
    function revealModel(bytes32 runId, string calldata revealedURI) external {
        Commitment storage c = _commitments[runId];
        if (c.committedAt == 0) revert ModelNotCommitted(runId);
        if (msg.sender != c.operator) revert ModelNotOperator(runId, msg.sender, c.operator);
        if (bytes(c.revealedURI).length != 0) revert ModelAlreadyRevealed(runId);
        if (policy.killSwitchEngaged()) revert ModelKillSwitchEngaged();
        // `revoked` also reads true once the operator was removed since the run's approval.
        if (policy.trainingRun(runId).revoked) revert ModelRunRevoked(runId);
        if (block.timestamp < c.revealableAt) revert ModelRevealTooEarly(runId, c.revealableAt);
        if (bytes(revealedURI).length == 0) revert ModelEmptyValue();
        c.revealedURI = revealedURI;
        emit ModelRevealed(runId, c.weightsHash, revealedURI);
    }

    /// @inheritdoc IModelCommitments
    function commitmentOf(bytes32 runId) external view returns (Commitment memory) {
        return _commitments[runId];
    }

    /// @inheritdoc IModelCommitments
    function contributionsOf(bytes32 runId) external view returns (bytes32 root, uint256 totalWeight) {
        Commitment storage c = _commitments[runId];
        return (c.contributionsRoot, c.totalWeight);
    }

    /// @inheritdoc IModelCommitments
    function verifyWeightsHash(bytes32 runId, bytes32 weightsHash) external view returns (bool) {
        Commitment storage c = _commitments[runId];
        return c.committedAt != 0 && c.weightsHash == weightsHash;
    }
}
