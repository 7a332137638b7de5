// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IGovernor} from "@openzeppelin/contracts/governance/IGovernor.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IPolicyRegistry} from "../../contracts/interfaces/IPolicyRegistry.sol";
import {SystemDeployer} from "../helpers/SystemDeployer.sol";

/// @notice The Governor and its timelock: a full proposal cycle, snapshot-based voting power,
/// execution order, cancellation by the proposal guardian, and votes by signature.
contract PolicyGovernorTest is SystemDeployer {
    Proposal internal _setWorker;

    function setUp() public {
        _deploySystem();
        _setWorker = _proposal(address(_registry), abi.encodeCall(IPolicyRegistry.setWorker, (_worker, true)));
    }

    // ---------------------------------------------------------------------------------------------
    // Deployment and wiring
    // ---------------------------------------------------------------------------------------------

    function test_DeploymentWiresTimelockToGovernorOnly() public {
        assertTrue(_timelock.hasRole(_timelock.PROPOSER_ROLE(), address(_governor)));
        assertTrue(_timelock.hasRole(_timelock.CANCELLER_ROLE(), address(_governor)));
        assertTrue(_timelock.hasRole(_timelock.EXECUTOR_ROLE(), address(0)));
        assertFalse(_timelock.hasRole(_timelock.DEFAULT_ADMIN_ROLE(), address(this)));
        assertFalse(_timelock.hasRole(_timelock.PROPOSER_ROLE(), address(this)));
        assertTrue(_timelock.hasRole(_timelock.DEFAULT_ADMIN_ROLE(), address(_timelock)));
        assertEq(_governor.timelock(), address(_timelock));
        assertEq(_governor.proposalGuardian(), _guardian);
        assertEq(_registry.timelock(), address(_timelock));
        assertEq(_registry.guardian(), _guardian);
        assertEq(address(_rewards.eas()), address(_eas));
        assertEq(address(_settlement.rewards()), address(_rewards));
        assertEq(_token.balanceOf(address(this)), 0);
        assertEq(_token.balanceOf(address(_timelock)), TOKEN_SUPPLY - 750_000 ether);
        assertEq(_governor.votingDelay(), VOTING_DELAY);
        assertEq(_governor.votingPeriod(), VOTING_PERIOD);
        assertEq(_governor.proposalThreshold(), PROPOSAL_THRESHOLD);
        assertEq(_timelock.getMinDelay(), TIMELOCK_DELAY);
    }

    function test_RevertIf_DeployerGrantsTimelockRoleAfterRenouncing() public {
        bytes32 proposer = _timelock.PROPOSER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector,
                address(this),
                _timelock.DEFAULT_ADMIN_ROLE()
            )
        );
        _timelock.grantRole(proposer, address(this));
    }

    function testFuzz_RevertIf_TimelockScheduledDirectly(address caller) public {
        vm.assume(caller != address(_governor));
        bytes32 proposer = _timelock.PROPOSER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, caller, proposer)
        );
        vm.prank(caller);
        _timelock.schedule(address(_registry), 0, _setWorker.calldatas[0], 0, 0, TIMELOCK_DELAY);
    }

    // ---------------------------------------------------------------------------------------------
    // The proposal cycle
    // ---------------------------------------------------------------------------------------------

    function test_PassPolicyProposal() public {
        uint256 proposalId = _pass(_setWorker);
        assertEq(uint8(_governor.state(proposalId)), uint8(IGovernor.ProposalState.Executed));
        assertTrue(_registry.isWorker(_worker));
        assertEq(_registry.policyVersion(), 1);
        assertEq(_governor.proposalCount(), 1);
    }

    function test_StatesFollowTheCycle() public {
        uint256 proposalId = _propose(_setWorker);
        _assertState(proposalId, IGovernor.ProposalState.Pending);
        _rollToVoting(proposalId);
        _assertState(proposalId, IGovernor.ProposalState.Active);
        _voteAll(proposalId, 1);
        _rollPastVoting(proposalId);
        _assertState(proposalId, IGovernor.ProposalState.Succeeded);
        _queue(_setWorker);
        _assertState(proposalId, IGovernor.ProposalState.Queued);
        _warpPastTimelock(_setWorker);
        _execute(_setWorker);
        _assertState(proposalId, IGovernor.ProposalState.Executed);
    }

    function test_ProposalWithoutQuorumIsDefeated() public {
        uint256 proposalId = _propose(_setWorker);
        _rollToVoting(proposalId);
        _rollPastVoting(proposalId);
        _assertState(proposalId, IGovernor.ProposalState.Defeated);
        vm.expectRevert(
            abi.encodeWithSelector(
                IGovernor.GovernorUnexpectedProposalState.selector,
                proposalId,
                IGovernor.ProposalState.Defeated,
                _bitmap(IGovernor.ProposalState.Succeeded)
            )
        );
        _queue(_setWorker);
    }

    function test_ProposalVotedDownIsDefeated() public {
        uint256 proposalId = _propose(_setWorker);
        _rollToVoting(proposalId);
        _voteAll(proposalId, 0);
        _rollPastVoting(proposalId);
        _assertState(proposalId, IGovernor.ProposalState.Defeated);
        assertFalse(_registry.isWorker(_worker));
    }

    function test_RevertIf_ProposerBelowThreshold() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IGovernor.GovernorInsufficientProposerVotes.selector,
                _outsider,
                0,
                PROPOSAL_THRESHOLD
            )
        );
        vm.prank(_outsider);
        _governor.propose(_setWorker.targets, _setWorker.values, _setWorker.calldatas, _setWorker.description);
    }

    function test_RevertIf_VotedTwice() public {
        uint256 proposalId = _propose(_setWorker);
        _rollToVoting(proposalId);
        vm.prank(_holders[1]);
        _governor.castVote(proposalId, 1);
        vm.expectRevert(abi.encodeWithSelector(IGovernor.GovernorAlreadyCastVote.selector, _holders[1]));
        vm.prank(_holders[1]);
        _governor.castVote(proposalId, 0);
    }

    function test_RevertIf_VotedBeforeSnapshot() public {
        uint256 proposalId = _propose(_setWorker);
        vm.expectRevert(
            abi.encodeWithSelector(
                IGovernor.GovernorUnexpectedProposalState.selector,
                proposalId,
                IGovernor.ProposalState.Pending,
                _bitmap(IGovernor.ProposalState.Active)
            )
        );
        vm.prank(_holders[0]);
        _governor.castVote(proposalId, 1);
    }

    function test_LateQuorumExtendsTheVote() public {
        uint256 proposalId = _propose(_setWorker);
        uint256 deadline = _governor.proposalDeadline(proposalId);
        vm.roll(deadline);
        vm.prank(_holders[2]);
        _governor.castVote(proposalId, 1);
        assertEq(_governor.proposalDeadline(proposalId), deadline + LATE_QUORUM_EXTENSION);
        vm.roll(deadline + 1);
        _assertState(proposalId, IGovernor.ProposalState.Active);
    }

    // ---------------------------------------------------------------------------------------------
    // Voting power is read at the snapshot
    // ---------------------------------------------------------------------------------------------

    function testFuzz_TokensTransferredAfterSnapshotCarryNoWeight(uint256 amount) public {
        amount = _bound(amount, 1, _holderBalances[0]);
        uint256 proposalId = _propose(_setWorker);
        _rollToVoting(proposalId);

        // The buyer acquires tokens once the snapshot is taken, and delegates them to itself.
        vm.prank(_holders[0]);
        _token.transfer(_outsider, amount);
        vm.prank(_outsider);
        _token.delegate(_outsider);
        assertEq(_token.getVotes(_outsider), amount);

        vm.prank(_outsider);
        uint256 weight = _governor.castVote(proposalId, 0);
        assertEq(weight, 0);
        // The seller keeps its whole snapshot weight for this proposal.
        vm.prank(_holders[0]);
        assertEq(_governor.castVote(proposalId, 1), _holderBalances[0]);

        (uint256 against, uint256 forVotes, ) = _governor.proposalVotes(proposalId);
        assertEq(against, 0);
        assertEq(forVotes, _holderBalances[0]);
    }

    function testFuzz_TokensTransferredBeforeSnapshotCount(uint256 amount) public {
        // The seller proposes, so it keeps at least the proposal threshold.
        amount = _bound(amount, 1, _holderBalances[0] - _governor.proposalThreshold());
        vm.prank(_holders[0]);
        _token.transfer(_outsider, amount);
        vm.prank(_outsider);
        _token.delegate(_outsider);
        vm.roll(block.number + 1);

        uint256 proposalId = _propose(_setWorker);
        _rollToVoting(proposalId);
        vm.prank(_outsider);
        assertEq(_governor.castVote(proposalId, 1), amount);
    }

    function test_UndelegatedTokensCarryNoWeight() public {
        // The treasury's tokens are not delegated, so they never vote.
        uint256 proposalId = _propose(_setWorker);
        _rollToVoting(proposalId);
        assertEq(_token.getPastVotes(address(_timelock), _governor.proposalSnapshot(proposalId)), 0);
        vm.prank(address(_timelock));
        assertEq(_governor.castVote(proposalId, 1), 0);
    }

    // ---------------------------------------------------------------------------------------------
    // Execution: only once, only after the delay, never after a cancel
    // ---------------------------------------------------------------------------------------------

    function test_RevertIf_ExecutedBeforeTimelockDelay() public {
        _succeed(_setWorker);
        _queue(_setWorker);
        vm.warp(_governor.proposalEta(_proposalId(_setWorker)) - 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                TimelockController.TimelockUnexpectedOperationState.selector,
                _timelockId(_setWorker),
                bytes32(uint256(1) << uint8(TimelockController.OperationState.Ready))
            )
        );
        _execute(_setWorker);
        assertFalse(_registry.isWorker(_worker));
    }

    function test_RevertIf_ExecutedWithoutQueueing() public {
        uint256 proposalId = _succeed(_setWorker);
        vm.expectRevert(
            abi.encodeWithSelector(
                IGovernor.GovernorUnexpectedProposalState.selector,
                proposalId,
                IGovernor.ProposalState.Succeeded,
                _bitmap(IGovernor.ProposalState.Queued)
            )
        );
        _execute(_setWorker);
    }

    function test_RevertIf_ExecutedTwice() public {
        uint256 proposalId = _pass(_setWorker);
        vm.expectRevert(
            abi.encodeWithSelector(
                IGovernor.GovernorUnexpectedProposalState.selector,
                proposalId,
                IGovernor.ProposalState.Executed,
                _bitmap(IGovernor.ProposalState.Queued)
            )
        );
        _execute(_setWorker);
        assertEq(_registry.policyVersion(), 1);
    }

    function test_RevertIf_ExecutedAfterCancel() public {
        uint256 proposalId = _succeed(_setWorker);
        _queue(_setWorker);
        _cancelAsGuardian(_setWorker);
        _warpPastTimelock(_setWorker);
        vm.warp(block.timestamp + TIMELOCK_DELAY);
        vm.expectRevert(
            abi.encodeWithSelector(
                IGovernor.GovernorUnexpectedProposalState.selector,
                proposalId,
                IGovernor.ProposalState.Canceled,
                _bitmap(IGovernor.ProposalState.Queued)
            )
        );
        _execute(_setWorker);
        assertFalse(_registry.isWorker(_worker));
    }

    function test_RevertIf_TimelockOperationExecutedDirectlyAfterCancel() public {
        _succeed(_setWorker);
        _queue(_setWorker);
        bytes32 id = _timelockId(_setWorker);
        _cancelAsGuardian(_setWorker);
        assertFalse(_timelock.isOperation(id));
        vm.warp(block.timestamp + TIMELOCK_DELAY + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                TimelockController.TimelockUnexpectedOperationState.selector,
                id,
                bytes32(uint256(1) << uint8(TimelockController.OperationState.Ready))
            )
        );
        vm.prank(_outsider);
        _timelock.executeBatch(_setWorker.targets, _setWorker.values, _setWorker.calldatas, 0, _salt(_setWorker));
    }

    // ---------------------------------------------------------------------------------------------
    // Cancellation
    // ---------------------------------------------------------------------------------------------

    /// @dev `stage`: 0 pending, 1 active, 2 succeeded, 3 queued.
    function testFuzz_ProposalGuardianCancelsAtAnyStage(uint8 stage) public {
        stage = uint8(_bound(stage, 0, 3));
        uint256 proposalId = _propose(_setWorker);
        if (stage >= 1) _rollToVoting(proposalId);
        if (stage >= 2) {
            _voteAll(proposalId, 1);
            _rollPastVoting(proposalId);
        }
        if (stage >= 3) _queue(_setWorker);

        _cancelAsGuardian(_setWorker);
        _assertState(proposalId, IGovernor.ProposalState.Canceled);
    }

    function testFuzz_RevertIf_OutsiderCancels(address caller) public {
        vm.assume(caller != _guardian && caller != _holders[0]);
        uint256 proposalId = _propose(_setWorker);
        vm.expectRevert(abi.encodeWithSelector(IGovernor.GovernorUnableToCancel.selector, proposalId, caller));
        vm.prank(caller);
        _governor.cancel(_setWorker.targets, _setWorker.values, _setWorker.calldatas, _descriptionHash(_setWorker));
    }

    function test_ProposerCancelsOnlyWhilePending() public {
        uint256 proposalId = _propose(_setWorker);
        _rollToVoting(proposalId);
        vm.expectRevert(abi.encodeWithSelector(IGovernor.GovernorUnableToCancel.selector, proposalId, _holders[0]));
        vm.prank(_holders[0]);
        _governor.cancel(_setWorker.targets, _setWorker.values, _setWorker.calldatas, _descriptionHash(_setWorker));

        Proposal memory other = _proposal(address(_registry), abi.encodeCall(IPolicyRegistry.setRevealDelay, (1)));
        uint256 otherId = _propose(other);
        vm.prank(_holders[0]);
        _governor.cancel(other.targets, other.values, other.calldatas, _descriptionHash(other));
        _assertState(otherId, IGovernor.ProposalState.Canceled);
    }

    /// @dev The issue-19 attack: a guardian engages the kill switch, then cancels the vote that
    /// replaces it and lifts the switch, for ever. A proposal made only of guardian-role calls
    /// (replacing either guardian, lifting the current engagement) is beyond its veto.
    function test_RevertIf_guardianCancelsItsOwnReplacement() public {
        vm.prank(_guardian);
        _registry.engageKillSwitch("guardian entrenches itself");
        Proposal memory p = _replaceGuardianAndLift(_outsider, 1);
        uint256 proposalId = _succeed(p);
        _queue(p);

        vm.expectRevert(abi.encodeWithSelector(IGovernor.GovernorUnableToCancel.selector, proposalId, _guardian));
        _cancelAsGuardian(p);
        _assertState(proposalId, IGovernor.ProposalState.Queued);

        _warpPastTimelock(p);
        _execute(p);
        assertEq(_registry.guardian(), _outsider);
        assertEq(_governor.proposalGuardian(), _outsider);
        assertFalse(_registry.killSwitchEngaged());
    }

    /// @dev `stage`: 0 pending, 1 active, 2 succeeded, 3 queued.
    function testFuzz_RevertIf_guardianCancelsItsReplacementAtAnyStage(uint8 stage) public {
        stage = uint8(_bound(stage, 0, 3));
        Proposal memory p = _replaceGuardianAndLift(_outsider, 0);
        uint256 proposalId = _propose(p);
        if (stage >= 1) _rollToVoting(proposalId);
        if (stage >= 2) {
            _voteAll(proposalId, 1);
            _rollPastVoting(proposalId);
        }
        if (stage >= 3) _queue(p);
        IGovernor.ProposalState before = _governor.state(proposalId);

        vm.expectRevert(abi.encodeWithSelector(IGovernor.GovernorUnableToCancel.selector, proposalId, _guardian));
        _cancelAsGuardian(p);
        _assertState(proposalId, before);
    }

    /// @dev Otherwise a hostile majority would put any change beyond the guardian's veto by
    /// bundling a guardian replacement with it.
    function test_GuardianCancelsAProposalThatBundlesItsReplacementWithOtherCalls() public {
        Proposal memory p = _replaceGuardianAndLift(_outsider, 0);
        p.targets = _append(p.targets, address(_registry));
        p.values = _append(p.values, 0);
        p.calldatas = _append(p.calldatas, abi.encodeCall(IPolicyRegistry.setWorker, (_worker, true)));
        uint256 proposalId = _succeed(p);
        _queue(p);
        _cancelAsGuardian(p);
        _assertState(proposalId, IGovernor.ProposalState.Canceled);
    }

    /// @dev A call that looks like a guardian-role call but pays ether, or goes to another
    /// contract, is an ordinary call the guardian may cancel.
    function test_GuardianCancelsLookalikeGuardianCalls() public {
        bytes memory setGuardian = abi.encodeCall(IPolicyRegistry.setGuardian, (_outsider));
        Proposal memory toOther = _proposal(address(_rewards), setGuardian);
        Proposal memory paying = _proposal(address(_registry), setGuardian);
        paying.values[0] = 1;
        Proposal memory wrongTarget = _proposal(
            address(_registry),
            abi.encodeWithSignature("setProposalGuardian(address)", _outsider)
        );
        Proposal[3] memory proposals = [toOther, paying, wrongTarget];
        for (uint256 i = 0; i < proposals.length; ++i) {
            uint256 proposalId = _propose(proposals[i]);
            _cancelAsGuardian(proposals[i]);
            _assertState(proposalId, IGovernor.ProposalState.Canceled);
        }
    }

    function test_RevertIf_ProposalGuardianReplacedOutsideGovernance() public {
        vm.expectRevert(abi.encodeWithSelector(IGovernor.GovernorOnlyExecutor.selector, _guardian));
        vm.prank(_guardian);
        _governor.setProposalGuardian(_outsider);
    }

    function test_GovernanceReplacesProposalGuardian() public {
        _pass(_proposal(address(_governor), abi.encodeWithSignature("setProposalGuardian(address)", _outsider)));
        assertEq(_governor.proposalGuardian(), _outsider);
    }

    // ---------------------------------------------------------------------------------------------
    // Votes by signature
    // ---------------------------------------------------------------------------------------------

    function test_CastVoteBySig() public {
        uint256 proposalId = _propose(_setWorker);
        _rollToVoting(proposalId);
        bytes memory signature = _signBallot(_holderKeys[1], proposalId, 1, _governor.nonces(_holders[1]));
        vm.prank(_outsider);
        uint256 weight = _governor.castVoteBySig(proposalId, 1, _holders[1], signature);
        assertEq(weight, _holderBalances[1]);
        assertTrue(_governor.hasVoted(proposalId, _holders[1]));
        assertEq(_governor.nonces(_holders[1]), 1);
    }

    function test_RevertIf_VoteBySigSignedBySomeoneElse() public {
        uint256 proposalId = _propose(_setWorker);
        _rollToVoting(proposalId);
        bytes memory signature = _signBallot(_holderKeys[2], proposalId, 1, 0);
        vm.expectRevert(abi.encodeWithSelector(IGovernor.GovernorInvalidSignature.selector, _holders[1]));
        _governor.castVoteBySig(proposalId, 1, _holders[1], signature);
    }

    function test_RevertIf_VoteBySigReplayed() public {
        uint256 proposalId = _propose(_setWorker);
        _rollToVoting(proposalId);
        bytes memory signature = _signBallot(_holderKeys[1], proposalId, 1, 0);
        _governor.castVoteBySig(proposalId, 1, _holders[1], signature);
        // The nonce moved on, so the same signature no longer recovers to the voter.
        vm.expectRevert(abi.encodeWithSelector(IGovernor.GovernorInvalidSignature.selector, _holders[1]));
        _governor.castVoteBySig(proposalId, 1, _holders[1], signature);
    }

    // ---------------------------------------------------------------------------------------------
    // Treasury
    // ---------------------------------------------------------------------------------------------

    function test_TreasurySpendsOnlyThroughProposals() public {
        Proposal memory grant = _proposal(address(_token), abi.encodeCall(_token.transfer, (_contributor, 1000 ether)));
        _pass(grant);
        assertEq(_token.balanceOf(_contributor), 1000 ether);
    }

    function test_ProposalFundsRewardPoolFromTreasury() public {
        vm.deal(address(_timelock), 5 ether);
        Proposal memory p = _proposal(address(_rewards), abi.encodeCall(_rewards.fund, (3)));
        p.values[0] = 5 ether;
        _pass(p);
        (uint256 pool, , ) = _rewards.epochTotals(3);
        assertEq(pool, 5 ether);
    }

    // ---------------------------------------------------------------------------------------------
    // Helpers
    // ---------------------------------------------------------------------------------------------

    /// @notice Proposes `p` and votes it through, up to the Succeeded state.
    function _succeed(Proposal memory p) internal returns (uint256 proposalId) {
        proposalId = _propose(p);
        _rollToVoting(proposalId);
        _voteAll(proposalId, 1);
        _rollPastVoting(proposalId);
    }

    /// @notice A proposal that replaces both guardians (the registry's and the Governor's) with
    /// `newGuardian`, and lifts kill switch engagement `engagementId` unless it is 0.
    function _replaceGuardianAndLift(address newGuardian, uint64 engagementId) internal returns (Proposal memory p) {
        uint256 count = engagementId == 0 ? 2 : 3;
        p = _proposal(address(_registry), new bytes[](count));
        p.calldatas[0] = abi.encodeCall(IPolicyRegistry.setGuardian, (newGuardian));
        p.targets[1] = address(_governor);
        p.calldatas[1] = abi.encodeWithSignature("setProposalGuardian(address)", newGuardian);
        if (engagementId != 0) p.calldatas[2] = abi.encodeCall(IPolicyRegistry.liftKillSwitch, (engagementId));
    }

    function _append(address[] memory a, address x) internal pure returns (address[] memory b) {
        b = new address[](a.length + 1);
        for (uint256 i = 0; i < a.length; ++i) b[i] = a[i];
        b[a.length] = x;
    }

    function _append(uint256[] memory a, uint256 x) internal pure returns (uint256[] memory b) {
        b = new uint256[](a.length + 1);
        for (uint256 i = 0; i < a.length; ++i) b[i] = a[i];
        b[a.length] = x;
    }

    function _append(bytes[] memory a, bytes memory x) internal pure returns (bytes[] memory b) {
        b = new bytes[](a.length + 1);
        for (uint256 i = 0; i < a.length; ++i) b[i] = a[i];
        b[a.length] = x;
    }

    /// @notice The proposal guardian cancels `p`.
    function _cancelAsGuardian(Proposal memory p) internal {
        vm.prank(_guardian);
        _governor.cancel(p.targets, p.values, p.calldatas, _descriptionHash(p));
    }

    /// @notice The salt GovernorTimelockControl schedules `p` with.
    function _salt(Proposal memory p) internal view returns (bytes32) {
        return bytes20(address(_governor)) ^ _descriptionHash(p);
    }

    /// @notice The id of `p`'s operation in the timelock.
    function _timelockId(Proposal memory p) internal view returns (bytes32) {
        return _timelock.hashOperationBatch(p.targets, p.values, p.calldatas, 0, _salt(p));
    }

    /// @notice The state bitmap the Governor's errors carry.
    function _bitmap(IGovernor.ProposalState s) internal pure returns (bytes32) {
        return bytes32(uint256(1) << uint8(s));
    }

    function _assertState(uint256 proposalId, IGovernor.ProposalState expected) internal {
        assertEq(uint8(_governor.state(proposalId)), uint8(expected));
    }
}
