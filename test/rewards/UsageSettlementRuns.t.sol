// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IModelCommitments} from "../../contracts/interfaces/IModelCommitments.sol";
import {IPolicyRegistry} from "../../contracts/interfaces/IPolicyRegistry.sol";
import {IRunRewards} from "../../contracts/interfaces/IRunRewards.sol";
import {IUsageSettlement} from "../../contracts/interfaces/IUsageSettlement.sol";
import {SystemDeployer} from "../helpers/SystemDeployer.sol";

/// @notice Fees follow the model that answered: a worker declares the committed run it serves,
/// its settlements accrue per (epoch, run), and a run's fees go to its contributions' pool.
contract UsageSettlementRunsTest is SystemDeployer {
    bytes32 internal constant RUN_ID = keccak256("run-1");
    bytes32 internal constant DATA_IN = keccak256("data in the model");
    bytes32 internal constant DATA_OUT = keccak256("data in no model");
    uint256 internal constant DEPOSIT = 1 ether;

    function setUp() public {
        _deploySystem();
        _configurePolicy();
        _deposit(_consumer, DEPOSIT);
        _recordAttested(_contributor, DATA_IN, 1_000);
        _recordAttested(_contributor2, DATA_OUT, 1_000);
    }

    // ---------------------------------------------------------------------------------------------
    // Declaring the served run
    // ---------------------------------------------------------------------------------------------

    function test_ServeRun() public {
        _commitRun();
        vm.expectEmit(address(_settlement));
        emit IUsageSettlement.WorkerServesRun(_worker, RUN_ID);
        _serve(RUN_ID);
        assertEq(_settlement.servedRun(_worker), RUN_ID);
        // Run zero: the worker serves no committed model any more.
        _serve(bytes32(0));
        assertEq(_settlement.servedRun(_worker), bytes32(0));
    }

    function test_RevertIf_ServeRunByNonWorker() public {
        _commitRun();
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageNotWorker.selector, _outsider));
        vm.prank(_outsider);
        _settlement.serveRun(RUN_ID);
    }

    function test_RevertIf_ServedRunNotCommitted() public {
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageRunNotCommitted.selector, RUN_ID));
        _serve(RUN_ID);
        assertEq(_settlement.servedRun(_worker), bytes32(0));
    }

    function test_RevertIf_ServedRunRevoked() public {
        _commitRun();
        _passPolicy(abi.encodeCall(IPolicyRegistry.revokeTrainingRun, (RUN_ID)));
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageRunRevoked.selector, RUN_ID));
        _serve(RUN_ID);
    }

    // ---------------------------------------------------------------------------------------------
    // Fees per run
    // ---------------------------------------------------------------------------------------------

    function test_FeesAccrueToTheServedRun() public {
        _commitRun();
        _serve(RUN_ID);
        _settle(_signVoucher(_consumerKey, 0, 10, FEE));
        (uint256 accrued, bool swept) = _settlement.runFeesOf(0, RUN_ID);
        assertEq(accrued, 10 * FEE);
        assertFalse(swept);
        (accrued, ) = _settlement.feesOf(0);
        assertEq(accrued, 0);

        uint64 closesAt = _registry.epochEnd(0) + EPOCH_LENGTH;
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageSettlementWindowOpen.selector, 0, closesAt));
        _settlement.sweepRunFees(0, RUN_ID);

        vm.warp(closesAt);
        vm.expectEmit(address(_settlement));
        emit IUsageSettlement.RunFeesSwept(0, RUN_ID, 10 * FEE);
        vm.expectEmit(address(_runRewards));
        emit IRunRewards.RunFunded(RUN_ID, address(_settlement), 10 * FEE);
        vm.prank(_outsider);
        _settlement.sweepRunFees(0, RUN_ID);
        (accrued, swept) = _settlement.runFeesOf(0, RUN_ID);
        assertEq(accrued, 10 * FEE);
        assertTrue(swept);
        assertEq(_runRewards.runPool(RUN_ID).received, 10 * FEE);
        assertEq(address(_settlement).balance, DEPOSIT - 10 * FEE);

        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageRunFeesAlreadySwept.selector, 0, RUN_ID));
        _settlement.sweepRunFees(0, RUN_ID);
        // The epoch's own pool got none of it.
        _settlement.sweepFees(0);
        (uint256 received, ) = _rewards.totals();
        assertEq(received, 0);
    }

    /// @dev Queries answered before the worker switched models pay the epoch's pool; after, the run's.
    function test_FeesFollowTheModelThatAnswered() public {
        _commitRun();
        _settle(_signVoucher(_consumerKey, 0, 5, FEE));
        _serve(RUN_ID);
        _settle(_signVoucher(_consumerKey, 0, 8, FEE));
        (uint256 epochFees, ) = _settlement.feesOf(0);
        (uint256 runFees, ) = _settlement.runFeesOf(0, RUN_ID);
        assertEq(epochFees, 5 * FEE);
        assertEq(runFees, 3 * FEE);
    }

    function test_KeyLanesAccrueToTheServedRun() public {
        _commitRun();
        _serve(RUN_ID);
        address key = vm.addr(0xA11CE);
        (IUsageSettlement.KeyGrant memory grant, bytes memory signature) = _signGrant(_consumerKey, key, 50, FEE);
        vm.prank(_worker);
        _settlement.settleKeys(_bearerSettlement(grant, signature, 0, 4));
        (uint256 runFees, ) = _settlement.runFeesOf(0, RUN_ID);
        assertEq(runFees, 4 * FEE);
    }

    function test_RevertIf_RunZeroSweptAsARun() public {
        _warpToEpoch(2);
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageNoRun.selector));
        _settlement.sweepRunFees(0, bytes32(0));
    }

    /// @dev The issue's "done when": the contributor whose data is in the served model earns from
    /// its queries, and the one whose data is not earns nothing from them.
    function test_OnlyTheServedModelsContributorsEarnItsFees() public {
        _commitRun();
        _serve(RUN_ID);
        _settle(_signVoucher(_consumerKey, 0, 10, FEE));
        _warpToEpoch(2);
        _settlement.sweepRunFees(0, RUN_ID);
        _settlement.sweepFees(0);

        uint256 before = _contributor.balance;
        vm.prank(_contributor);
        _runRewards.claim(RUN_ID, DATA_IN, 1_000, new bytes32[](0));
        assertEq(_contributor.balance - before, 10 * FEE);

        vm.expectRevert(abi.encodeWithSelector(IRunRewards.RunRewardsInvalidProof.selector, RUN_ID, DATA_OUT, 1_000));
        _runRewards.claim(RUN_ID, DATA_OUT, 1_000, new bytes32[](0));
        // Both were recorded in epoch 0, whose pool got nothing from these queries.
        assertEq(_rewards.claimable(0, _contributor2), 0);
        assertEq(_rewards.claimable(0, _contributor), 0);
    }

    // ---------------------------------------------------------------------------------------------
    // Helpers
    // ---------------------------------------------------------------------------------------------

    /// @dev A one-leaf tree: its root is the leaf (DATA_IN, _contributor, 1000), its proof empty.
    function _commitRun() internal {
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(DATA_IN, _contributor, uint256(1_000)))));
        vm.prank(address(_timelock));
        _registry.approveTrainingRun(RUN_ID, keccak256("spec"), _worker, uint64(block.timestamp + 1 days));
        vm.prank(_worker);
        _commitments.commitModel(
            RUN_ID,
            keccak256("weights"),
            keccak256("training set"),
            "ipfs://weights",
            IModelCommitments.Contributions(leaf, 1_000, "ipfs://contributions")
        );
    }

    function _serve(bytes32 runId) internal {
        vm.prank(_worker);
        _settlement.serveRun(runId);
    }

    function _settle(IUsageSettlement.Voucher memory v) internal {
        vm.prank(_worker);
        _settlement.settle(_vouchers(v));
    }
}
