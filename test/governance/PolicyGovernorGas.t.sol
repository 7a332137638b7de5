// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IPolicyRegistry} from "../../contracts/interfaces/IPolicyRegistry.sol";
import {SystemDeployer} from "../helpers/SystemDeployer.sol";

/// @notice Gas snapshots of the governance hot paths, written to `snapshots/PolicyGovernor.json` by
/// `npx hardhat test solidity --snapshot` and checked by `--snapshot-check`.
/// @dev `setUp` (its own transaction) brings one proposal to each stage, so each measured call
/// finds its proposal's storage written by an earlier transaction, as on a real chain; every
/// system contract is marked cold before the call. A figure is the call's execution gas: it
/// leaves out the 21,000 base cost and the calldata of a transaction.
contract PolicyGovernorGasTest is SystemDeployer {
    string internal constant GROUP = "PolicyGovernor";

    Proposal internal _toPropose;
    Proposal internal _toVote;
    Proposal internal _toReachQuorum;
    Proposal internal _toQueue;
    Proposal internal _toExecute;
    uint256 internal _toVoteId;
    uint256 internal _toReachQuorumId;

    function setUp() public {
        _deploySystem();
        // A policy proposal, as the DAO makes most: authorise a worker.
        _toExecute = _proposal(address(_registry), abi.encodeCall(IPolicyRegistry.setWorker, (_worker, true)));
        _toQueue = _proposal(address(_registry), abi.encodeCall(IPolicyRegistry.setQueryFee, (FEE)));
        uint256 executeId = _propose(_toExecute);
        uint256 queueId = _propose(_toQueue);
        _rollToVoting(executeId);
        _voteAll(executeId, 1);
        _voteAll(queueId, 1);
        _rollPastVoting(queueId);
        _queue(_toExecute);
        _warpPastTimelock(_toExecute);

        _toVote = _proposal(address(_registry), abi.encodeCall(IPolicyRegistry.setQuota, (_consumer, QUOTA)));
        _toReachQuorum = _proposal(address(_registry), abi.encodeCall(IPolicyRegistry.setRevealDelay, (1 days)));
        _toVoteId = _propose(_toVote);
        _toReachQuorumId = _propose(_toReachQuorum);
        _rollToVoting(_toVoteId);
        // Quorum is already reached on `_toVote`, so the votes measured on it are ordinary ones.
        vm.prank(_holders[0]);
        _governor.castVote(_toVoteId, 1);

        _toPropose = _proposal(address(_registry), abi.encodeCall(IPolicyRegistry.setSubmitter, (_contributor, true)));
    }

    function test_GasPropose() public {
        _coolSystem();
        vm.prank(_holders[0]);
        _governor.propose(_toPropose.targets, _toPropose.values, _toPropose.calldatas, _toPropose.description);
        VM_EXT.snapshotGasLastCall(GROUP, "propose");
    }

    function test_GasCastVote() public {
        _coolSystem();
        vm.prank(_holders[1]);
        _governor.castVote(_toVoteId, 1);
        VM_EXT.snapshotGasLastCall(GROUP, "castVote");
    }

    function test_GasCastVoteReachingQuorum() public {
        _coolSystem();
        vm.prank(_holders[1]);
        _governor.castVote(_toReachQuorumId, 1);
        VM_EXT.snapshotGasLastCall(GROUP, "castVote (reaches quorum)");
    }

    function test_GasCastVoteBySig() public {
        bytes memory signature = _signBallot(_holderKeys[2], _toVoteId, 1, 0);
        _coolSystem();
        vm.prank(_outsider);
        _governor.castVoteBySig(_toVoteId, 1, _holders[2], signature);
        VM_EXT.snapshotGasLastCall(GROUP, "castVoteBySig");
    }

    function test_GasQueue() public {
        bytes32 descriptionHash = _descriptionHash(_toQueue);
        _coolSystem();
        vm.prank(_outsider);
        _governor.queue(_toQueue.targets, _toQueue.values, _toQueue.calldatas, descriptionHash);
        VM_EXT.snapshotGasLastCall(GROUP, "queue");
    }

    function test_GasExecute() public {
        bytes32 descriptionHash = _descriptionHash(_toExecute);
        _coolSystem();
        vm.prank(_outsider);
        _governor.execute(_toExecute.targets, _toExecute.values, _toExecute.calldatas, descriptionHash);
        VM_EXT.snapshotGasLastCall(GROUP, "execute (policy proposal: setWorker)");
        assertTrue(_registry.isWorker(_worker));
    }
}
