// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IModelCommitments} from "../../contracts/interfaces/IModelCommitments.sol";
import {IPolicyRegistry} from "../../contracts/interfaces/IPolicyRegistry.sol";
import {SystemDeployer} from "../helpers/SystemDeployer.sol";

/// @notice Model commitments: only an approved run's operator commits, once, and reveals, once,
/// after the reveal delay in force at commit time.
contract ModelCommitmentsTest is SystemDeployer {
    bytes32 internal constant RUN_ID = keccak256("run-1");
    bytes32 internal constant SPEC_HASH = keccak256("spec-1");
    bytes32 internal constant WEIGHTS = keccak256("weights");
    bytes32 internal constant TRAINING_SET = keccak256("training set");
    string internal constant ENCRYPTED_URI = "ipfs://bafy-encrypted";
    string internal constant REVEALED_URI = "ipfs://bafy-plaintext";
    bytes32 internal constant CONTRIBUTIONS_ROOT = keccak256("contributions root");
    uint256 internal constant TOTAL_WEIGHT = 42;
    string internal constant CONTRIBUTIONS_URI = "ipfs://bafy-contributions";

    uint64 internal _runExpiresAt;

    function setUp() public {
        _deploySystem();
        _configurePolicy();
        _runExpiresAt = uint64(block.timestamp + 7 days);
        vm.prank(address(_timelock));
        _registry.approveTrainingRun(RUN_ID, SPEC_HASH, _worker, _runExpiresAt);
    }

    // ---------------------------------------------------------------------------------------------
    // Committing
    // ---------------------------------------------------------------------------------------------

    function test_CommitModel() public {
        uint64 revealableAt = uint64(block.timestamp) + REVEAL_DELAY;
        vm.expectEmit(address(_commitments));
        emit IModelCommitments.ModelCommitted(
            RUN_ID,
            WEIGHTS,
            TRAINING_SET,
            ENCRYPTED_URI,
            _worker,
            revealableAt,
            CONTRIBUTIONS_ROOT,
            TOTAL_WEIGHT,
            CONTRIBUTIONS_URI
        );
        _commit();

        IModelCommitments.Commitment memory c = _commitments.commitmentOf(RUN_ID);
        assertEq(c.weightsHash, WEIGHTS);
        assertEq(c.trainingSetHash, TRAINING_SET);
        assertEq(c.encryptedWeightsURI, ENCRYPTED_URI);
        assertEq(c.operator, _worker);
        assertEq(uint256(c.committedAt), block.timestamp);
        assertEq(uint256(c.revealableAt), revealableAt);
        assertEq(c.revealedURI, "");
        assertEq(c.contributionsRoot, CONTRIBUTIONS_ROOT);
        assertEq(c.totalWeight, TOTAL_WEIGHT);
        assertEq(c.contributionsURI, CONTRIBUTIONS_URI);
        (bytes32 root, uint256 totalWeight) = _commitments.contributionsOf(RUN_ID);
        assertEq(root, CONTRIBUTIONS_ROOT);
        assertEq(totalWeight, TOTAL_WEIGHT);
        assertTrue(_commitments.verifyWeightsHash(RUN_ID, WEIGHTS));
        assertFalse(_commitments.verifyWeightsHash(RUN_ID, TRAINING_SET));
        assertFalse(_commitments.verifyWeightsHash(SPEC_HASH, bytes32(0)));
    }

    function testFuzz_RevertIf_CommittedByNonOperator(address caller) public {
        vm.assume(caller != _worker);
        vm.expectRevert(abi.encodeWithSelector(IModelCommitments.ModelNotOperator.selector, RUN_ID, caller, _worker));
        vm.prank(caller);
        _commitments.commitModel(RUN_ID, WEIGHTS, TRAINING_SET, ENCRYPTED_URI, _contributions());
        _assertNotCommitted();
    }

    function test_RevertIf_OtherWorkerCommits() public {
        // Being an authorised worker is not enough: the run names its operator.
        vm.prank(address(_timelock));
        _registry.setWorker(_outsider, true);
        vm.expectRevert(
            abi.encodeWithSelector(IModelCommitments.ModelNotOperator.selector, RUN_ID, _outsider, _worker)
        );
        vm.prank(_outsider);
        _commitments.commitModel(RUN_ID, WEIGHTS, TRAINING_SET, ENCRYPTED_URI, _contributions());
    }

    function testFuzz_RevertIf_RunUnknown(bytes32 runId) public {
        vm.assume(runId != RUN_ID);
        vm.expectRevert(abi.encodeWithSelector(IModelCommitments.ModelRunNotApproved.selector, runId));
        vm.prank(_worker);
        _commitments.commitModel(runId, WEIGHTS, TRAINING_SET, ENCRYPTED_URI, _contributions());
    }

    function test_RevertIf_RunRevoked() public {
        _passPolicy(abi.encodeCall(IPolicyRegistry.revokeTrainingRun, (RUN_ID)));
        vm.expectRevert(abi.encodeWithSelector(IModelCommitments.ModelRunNotApproved.selector, RUN_ID));
        _commit();
        _assertNotCommitted();
    }

    function test_RevertIf_RunExpired() public {
        vm.warp(_runExpiresAt);
        vm.expectRevert(abi.encodeWithSelector(IModelCommitments.ModelRunNotApproved.selector, RUN_ID));
        _commit();
        _assertNotCommitted();
    }

    function test_RevertIf_CommittedTwice() public {
        _commit();
        vm.expectRevert(abi.encodeWithSelector(IModelCommitments.ModelAlreadyCommitted.selector, RUN_ID));
        vm.prank(_worker);
        _commitments.commitModel(RUN_ID, keccak256("other weights"), TRAINING_SET, ENCRYPTED_URI, _contributions());
        assertEq(_commitments.commitmentOf(RUN_ID).weightsHash, WEIGHTS);
    }

    function test_RevertIf_CommitmentEmpty() public {
        vm.startPrank(_worker);
        vm.expectRevert(abi.encodeWithSelector(IModelCommitments.ModelEmptyValue.selector));
        _commitments.commitModel(RUN_ID, bytes32(0), TRAINING_SET, ENCRYPTED_URI, _contributions());
        vm.expectRevert(abi.encodeWithSelector(IModelCommitments.ModelEmptyValue.selector));
        _commitments.commitModel(RUN_ID, WEIGHTS, bytes32(0), ENCRYPTED_URI, _contributions());
        vm.expectRevert(abi.encodeWithSelector(IModelCommitments.ModelEmptyValue.selector));
        _commitments.commitModel(RUN_ID, WEIGHTS, TRAINING_SET, "", _contributions());
        vm.expectRevert(abi.encodeWithSelector(IModelCommitments.ModelEmptyValue.selector));
        _commitments.commitModel(
            RUN_ID,
            WEIGHTS,
            TRAINING_SET,
            ENCRYPTED_URI,
            IModelCommitments.Contributions(CONTRIBUTIONS_ROOT, TOTAL_WEIGHT, "")
        );
        vm.stopPrank();
        _assertNotCommitted();
    }

    /// @dev A model must name the contributions it learned from, or its fees could not be paid to them.
    function test_RevertIf_NoContributions() public {
        vm.startPrank(_worker);
        vm.expectRevert(
            abi.encodeWithSelector(IModelCommitments.ModelNoContributions.selector, bytes32(0), TOTAL_WEIGHT)
        );
        _commitments.commitModel(
            RUN_ID,
            WEIGHTS,
            TRAINING_SET,
            ENCRYPTED_URI,
            IModelCommitments.Contributions(bytes32(0), TOTAL_WEIGHT, CONTRIBUTIONS_URI)
        );
        vm.expectRevert(abi.encodeWithSelector(IModelCommitments.ModelNoContributions.selector, CONTRIBUTIONS_ROOT, 0));
        _commitments.commitModel(
            RUN_ID,
            WEIGHTS,
            TRAINING_SET,
            ENCRYPTED_URI,
            IModelCommitments.Contributions(CONTRIBUTIONS_ROOT, 0, CONTRIBUTIONS_URI)
        );
        vm.stopPrank();
        _assertNotCommitted();
        (bytes32 root, uint256 totalWeight) = _commitments.contributionsOf(RUN_ID);
        assertEq(root, bytes32(0));
        assertEq(totalWeight, 0);
    }

    function test_RevertIf_KillSwitchEngaged() public {
        vm.prank(_guardian);
        _registry.engageKillSwitch("model exfiltration suspected");
        vm.expectRevert(abi.encodeWithSelector(IModelCommitments.ModelKillSwitchEngaged.selector));
        _commit();
        _assertNotCommitted();
    }

    /// @dev Removing a worker removes its right to commit models (and keyholders stop seeing its
    /// runs as approved), so a compromised operator key is stopped by one proposal.
    function test_RevertIf_OperatorNoLongerWorker() public {
        vm.prank(address(_timelock));
        _registry.setWorker(_worker, false);
        assertFalse(_registry.isTrainingRunApproved(RUN_ID));
        vm.expectRevert(abi.encodeWithSelector(IModelCommitments.ModelRunNotApproved.selector, RUN_ID));
        _commit();
    }

    // ---------------------------------------------------------------------------------------------
    // Revealing
    // ---------------------------------------------------------------------------------------------

    function test_RevealAfterDelay() public {
        _commit();
        uint64 revealableAt = _commitments.commitmentOf(RUN_ID).revealableAt;
        vm.warp(revealableAt);
        vm.expectEmit(address(_commitments));
        emit IModelCommitments.ModelRevealed(RUN_ID, WEIGHTS, REVEALED_URI);
        _reveal();
        assertEq(_commitments.commitmentOf(RUN_ID).revealedURI, REVEALED_URI);
    }

    function testFuzz_RevertIf_RevealedBeforeDelay(uint256 wait) public {
        _commit();
        uint64 revealableAt = _commitments.commitmentOf(RUN_ID).revealableAt;
        wait = _bound(wait, 0, REVEAL_DELAY - 1);
        vm.warp(block.timestamp + wait);
        vm.expectRevert(abi.encodeWithSelector(IModelCommitments.ModelRevealTooEarly.selector, RUN_ID, revealableAt));
        _reveal();
        assertEq(_commitments.commitmentOf(RUN_ID).revealedURI, "");
    }

    function test_ShorterDelayAfterCommitDoesNotHastenReveal() public {
        _commit();
        uint64 revealableAt = _commitments.commitmentOf(RUN_ID).revealableAt;
        _passPolicy(abi.encodeCall(IPolicyRegistry.setRevealDelay, (0)));
        assertLt(block.timestamp, revealableAt);
        vm.expectRevert(abi.encodeWithSelector(IModelCommitments.ModelRevealTooEarly.selector, RUN_ID, revealableAt));
        _reveal();
    }

    function test_RevertIf_RevealedTwice() public {
        _commit();
        vm.warp(block.timestamp + REVEAL_DELAY);
        _reveal();
        vm.expectRevert(abi.encodeWithSelector(IModelCommitments.ModelAlreadyRevealed.selector, RUN_ID));
        vm.prank(_worker);
        _commitments.revealModel(RUN_ID, "ipfs://elsewhere");
        assertEq(_commitments.commitmentOf(RUN_ID).revealedURI, REVEALED_URI);
    }

    function test_RevertIf_RevealedWithoutCommitment() public {
        vm.expectRevert(abi.encodeWithSelector(IModelCommitments.ModelNotCommitted.selector, RUN_ID));
        _reveal();
    }

    function testFuzz_RevertIf_RevealedByNonOperator(address caller) public {
        vm.assume(caller != _worker);
        _commit();
        vm.warp(block.timestamp + REVEAL_DELAY);
        vm.expectRevert(abi.encodeWithSelector(IModelCommitments.ModelNotOperator.selector, RUN_ID, caller, _worker));
        vm.prank(caller);
        _commitments.revealModel(RUN_ID, REVEALED_URI);
    }

    /// @dev Issue 19: the guardian stopped everything; publishing a model's weights is not an exception.
    function test_RevertIf_revealedWhileKillSwitchEngaged() public {
        _commitAndWait();
        vm.prank(_guardian);
        _registry.engageKillSwitch("model leaks training data");
        vm.expectRevert(abi.encodeWithSelector(IModelCommitments.ModelKillSwitchEngaged.selector));
        _reveal();
        assertEq(_commitments.commitmentOf(RUN_ID).revealedURI, "");
    }

    /// @dev Issue 19: the DAO withdrew the run after its model was committed.
    function test_RevertIf_revealedAfterRunRevoked() public {
        _commitAndWait();
        _passPolicy(abi.encodeCall(IPolicyRegistry.revokeTrainingRun, (RUN_ID)));
        vm.expectRevert(abi.encodeWithSelector(IModelCommitments.ModelRunRevoked.selector, RUN_ID));
        _reveal();
        assertEq(_commitments.commitmentOf(RUN_ID).revealedURI, "");
    }

    /// @dev Issue 19: the DAO removed the operator (a compromised key, say); authorising it again
    /// later does not give it back its old runs.
    function test_RevertIf_revealedAfterOperatorRemoved() public {
        _commitAndWait();
        vm.prank(address(_timelock));
        _registry.setWorker(_worker, false);
        vm.expectRevert(abi.encodeWithSelector(IModelCommitments.ModelRunRevoked.selector, RUN_ID));
        _reveal();
        vm.prank(address(_timelock));
        _registry.setWorker(_worker, true);
        vm.expectRevert(abi.encodeWithSelector(IModelCommitments.ModelRunRevoked.selector, RUN_ID));
        _reveal();
        assertEq(_commitments.commitmentOf(RUN_ID).revealedURI, "");
    }

    /// @dev A run's approval lapsing is normal (runs are short, reveal delays long): the model
    /// committed within it is still revealed.
    function test_RevealAfterRunExpired() public {
        _commitAndWait();
        vm.warp(_runExpiresAt + 1);
        assertFalse(_registry.isTrainingRunApproved(RUN_ID));
        _reveal();
        assertEq(_commitments.commitmentOf(RUN_ID).revealedURI, REVEALED_URI);
    }

    function test_RevertIf_RevealedUriEmpty() public {
        _commit();
        vm.warp(block.timestamp + REVEAL_DELAY);
        vm.expectRevert(abi.encodeWithSelector(IModelCommitments.ModelEmptyValue.selector));
        vm.prank(_worker);
        _commitments.revealModel(RUN_ID, "");
    }

    // ---------------------------------------------------------------------------------------------
    // Helpers
    // ---------------------------------------------------------------------------------------------

    function _commit() internal {
        vm.prank(_worker);
        _commitments.commitModel(RUN_ID, WEIGHTS, TRAINING_SET, ENCRYPTED_URI, _contributions());
    }

    function _contributions() internal pure returns (IModelCommitments.Contributions memory) {
        return IModelCommitments.Contributions(CONTRIBUTIONS_ROOT, TOTAL_WEIGHT, CONTRIBUTIONS_URI);
    }

    function _commitAndWait() internal {
        _commit();
        vm.warp(_commitments.commitmentOf(RUN_ID).revealableAt);
    }

    function _reveal() internal {
        vm.prank(_worker);
        _commitments.revealModel(RUN_ID, REVEALED_URI);
    }

    function _assertNotCommitted() internal {
        assertEq(uint256(_commitments.commitmentOf(RUN_ID).committedAt), 0);
        assertFalse(_commitments.verifyWeightsHash(RUN_ID, WEIGHTS));
    }
}
