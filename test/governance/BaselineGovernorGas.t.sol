// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {IPolicyRegistry} from "../../contracts/interfaces/IPolicyRegistry.sol";
import {PolicyRegistry} from "../../contracts/policy/PolicyRegistry.sol";
import {BaselineGovernorMock} from "../../contracts/mocks/BaselineGovernorMock.sol";
import {SystemDeployer} from "../helpers/SystemDeployer.sol";

/// @notice The baseline for `PolicyGovernorGasTest`: the same proposals, votes and token, measured
/// the same way, through a plain OpenZeppelin Governor and its own timelock, written to
/// `snapshots/BaselineGovernor.json`. The difference is what late quorum, on-chain proposal
/// storage and the proposal guardian cost.
contract BaselineGovernorGasTest is SystemDeployer {
    string internal constant GROUP = "BaselineGovernor";

    BaselineGovernorMock internal _baseline;
    TimelockController internal _baselineTimelock;
    PolicyRegistry internal _baselineRegistry;

    Proposal internal _toPropose;
    Proposal internal _toQueue;
    Proposal internal _toExecute;
    uint256 internal _toVoteId;

    function setUp() public {
        _deploySystem();
        address[] memory none = new address[](0);
        address[] memory anyone = new address[](1);
        _baselineTimelock = new TimelockController(TIMELOCK_DELAY, none, anyone, address(this));
        _baseline = new BaselineGovernorMock(
            _token,
            _baselineTimelock,
            VOTING_DELAY,
            VOTING_PERIOD,
            PROPOSAL_THRESHOLD,
            QUORUM_NUMERATOR
        );
        _baselineTimelock.grantRole(_baselineTimelock.PROPOSER_ROLE(), address(_baseline));
        _baselineTimelock.grantRole(_baselineTimelock.CANCELLER_ROLE(), address(_baseline));
        _baselineRegistry = new PolicyRegistry(address(_baselineTimelock), _guardian, EPOCH_LENGTH, REVEAL_DELAY);

        address registry = address(_baselineRegistry);
        _toExecute = _proposal(registry, abi.encodeCall(IPolicyRegistry.setWorker, (_worker, true)));
        _toQueue = _proposal(registry, abi.encodeCall(IPolicyRegistry.setQueryFee, (FEE)));
        _baselinePropose(_toExecute);
        uint256 queueId = _baselinePropose(_toQueue);
        vm.roll(block.number + VOTING_DELAY + 1);
        _baselineVoteAll(_baselineId(_toExecute));
        _baselineVoteAll(queueId);
        vm.roll(block.number + VOTING_PERIOD + 1);
        _baseline.queue(_toExecute.targets, _toExecute.values, _toExecute.calldatas, _descriptionHash(_toExecute));
        vm.warp(block.timestamp + TIMELOCK_DELAY + 1);

        Proposal memory toVote = _proposal(registry, abi.encodeCall(IPolicyRegistry.setQuota, (_consumer, QUOTA)));
        _toVoteId = _baselinePropose(toVote);
        vm.roll(block.number + VOTING_DELAY + 1);
        vm.prank(_holders[0]);
        _baseline.castVote(_toVoteId, 1);
        _toPropose = _proposal(registry, abi.encodeCall(IPolicyRegistry.setSubmitter, (_contributor, true)));
    }

    function test_GasPropose() public {
        _coolAll();
        vm.prank(_holders[0]);
        _baseline.propose(_toPropose.targets, _toPropose.values, _toPropose.calldatas, _toPropose.description);
        VM_EXT.snapshotGasLastCall(GROUP, "propose");
    }

    function test_GasCastVote() public {
        _coolAll();
        vm.prank(_holders[1]);
        _baseline.castVote(_toVoteId, 1);
        VM_EXT.snapshotGasLastCall(GROUP, "castVote");
    }

    function test_GasQueue() public {
        bytes32 descriptionHash = _descriptionHash(_toQueue);
        _coolAll();
        vm.prank(_outsider);
        _baseline.queue(_toQueue.targets, _toQueue.values, _toQueue.calldatas, descriptionHash);
        VM_EXT.snapshotGasLastCall(GROUP, "queue");
    }

    function test_GasExecute() public {
        bytes32 descriptionHash = _descriptionHash(_toExecute);
        _coolAll();
        vm.prank(_outsider);
        _baseline.execute(_toExecute.targets, _toExecute.values, _toExecute.calldatas, descriptionHash);
        VM_EXT.snapshotGasLastCall(GROUP, "execute (policy proposal: setWorker)");
        assertTrue(_baselineRegistry.isWorker(_worker));
    }

    function _baselinePropose(Proposal memory p) private returns (uint256) {
        vm.prank(_holders[0]);
        return _baseline.propose(p.targets, p.values, p.calldatas, p.description);
    }

    function _baselineId(Proposal memory p) private view returns (uint256) {
        return _baseline.getProposalId(p.targets, p.values, p.calldatas, _descriptionHash(p));
    }

    function _baselineVoteAll(uint256 proposalId) private {
        for (uint256 i = 0; i < _holders.length; ++i) {
            vm.prank(_holders[i]);
            _baseline.castVote(proposalId, 1);
        }
    }

    function _coolAll() private {
        _coolSystem();
        VM_EXT.cool(address(_baseline));
        VM_EXT.cool(address(_baselineTimelock));
        VM_EXT.cool(address(_baselineRegistry));
    }
}
