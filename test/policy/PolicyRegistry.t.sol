// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IPolicyRegistry} from "../../contracts/interfaces/IPolicyRegistry.sol";
import {PolicyRegistry} from "../../contracts/policy/PolicyRegistry.sol";
import {SystemDeployer} from "../helpers/SystemDeployer.sol";

/// @notice The policy registry: only the timelock changes policy, every change bumps the version and
/// says so in its event, and the guardian can only engage the kill switch.
/// @dev Most tests act as the timelock with `vm.prank`, which is what an executed proposal does;
/// `test_SettersReachableThroughGovernance` takes the real path.
contract PolicyRegistryTest is SystemDeployer {
    bytes32 internal constant RUN_ID = keccak256("run-1");
    bytes32 internal constant SPEC_HASH = keccak256("spec-1");

    function setUp() public {
        _deploySystem();
    }

    // ---------------------------------------------------------------------------------------------
    // Access control: every setter, every caller but the timelock
    // ---------------------------------------------------------------------------------------------

    /// @notice Each of the registry's timelock-only functions, with valid arguments.
    function _timelockOnlyCalls() internal view returns (bytes[] memory calls) {
        address[] memory accounts = new address[](1);
        accounts[0] = _contributor;
        bytes[] memory keys = _keys(1);
        calls = new bytes[](13);
        calls[0] = abi.encodeCall(IPolicyRegistry.setSubmitter, (_contributor, true));
        calls[1] = abi.encodeCall(IPolicyRegistry.setSubmitters, (accounts, true));
        calls[2] = abi.encodeCall(IPolicyRegistry.setAttestationRequirement, (_dataSchemaUID, accounts, 1, 0));
        calls[3] = abi.encodeCall(IPolicyRegistry.setQuota, (_consumer, 10));
        calls[4] = abi.encodeCall(IPolicyRegistry.setQueryFee, (1 gwei));
        calls[5] = abi.encodeCall(IPolicyRegistry.setCommittee, (accounts, keys, 1));
        calls[6] = abi.encodeCall(
            IPolicyRegistry.approveTrainingRun,
            (RUN_ID, SPEC_HASH, _worker, uint64(block.timestamp + 1 days))
        );
        calls[7] = abi.encodeCall(IPolicyRegistry.revokeTrainingRun, (RUN_ID));
        calls[8] = abi.encodeCall(IPolicyRegistry.setWorker, (_worker, true));
        calls[9] = abi.encodeCall(IPolicyRegistry.setRevealDelay, (1 days));
        calls[10] = abi.encodeCall(IPolicyRegistry.setGuardian, (_outsider));
        calls[11] = abi.encodeCall(IPolicyRegistry.liftKillSwitch, (1));
        calls[12] = abi.encodeCall(IPolicyRegistry.setTier, (0, 10, 1 ether, true, 0));
    }

    function testFuzz_RevertIf_SetterCalledByNonTimelock(address caller) public {
        vm.assume(caller != address(_timelock));
        bytes[] memory calls = _timelockOnlyCalls();
        for (uint256 i = 0; i < calls.length; ++i) {
            _expectUnauthorized(caller, calls[i]);
        }
        assertEq(_registry.policyVersion(), 0);
    }

    function test_RevertIf_GuardianCallsAnySetter() public {
        bytes[] memory calls = _timelockOnlyCalls();
        for (uint256 i = 0; i < calls.length; ++i) {
            _expectUnauthorized(_guardian, calls[i]);
        }
        // Not even with the kill switch engaged, when lifting it would be the guardian's wish.
        vm.prank(_guardian);
        _registry.engageKillSwitch("incident");
        _expectUnauthorized(_guardian, abi.encodeCall(IPolicyRegistry.liftKillSwitch, (1)));
        assertTrue(_registry.killSwitchEngaged());
        assertEq(_registry.policyVersion(), 1);
    }

    function test_SettersReachableThroughGovernance() public {
        bytes[] memory calls = _timelockOnlyCalls();
        // Lifting needs an engaged switch, and the run must be approved by a worker's proposal first.
        calls[11] = abi.encodeCall(IPolicyRegistry.engageKillSwitch, ("drill"));
        (calls[6], calls[8]) = (calls[8], calls[6]);
        (calls[7], calls[9]) = (calls[9], calls[7]);
        _pass(_proposal(address(_registry), calls));
        assertEq(_registry.policyVersion(), calls.length);
        assertTrue(_registry.isSubmitter(_contributor));
        assertEq(_registry.quotaOf(_consumer), 10);
        assertEq(_registry.feePerQuery(), 1 gwei);
        assertTrue(_registry.isWorker(_worker));
        assertFalse(_registry.isTrainingRunApproved(RUN_ID));
        assertEq(_registry.revealDelay(), 1 days);
        assertEq(_registry.guardian(), _outsider);
        assertTrue(_registry.killSwitchEngaged());
        _passPolicy(abi.encodeCall(IPolicyRegistry.liftKillSwitch, (1)));
        assertFalse(_registry.killSwitchEngaged());
    }

    // ---------------------------------------------------------------------------------------------
    // Each setter: its effect, its event, the bumped version
    // ---------------------------------------------------------------------------------------------

    function testFuzz_SetSubmitter(address submitter, bool allowed) public {
        vm.assume(submitter != address(0));
        vm.expectEmit(address(_registry));
        emit IPolicyRegistry.SubmitterSet(submitter, allowed, 1);
        vm.prank(address(_timelock));
        _registry.setSubmitter(submitter, allowed);
        assertEq(_registry.isSubmitter(submitter), allowed);
        assertEq(_registry.policyVersion(), 1);
    }

    function test_SetSubmittersBumpsOncePerSubmitter() public {
        address[] memory submitters = new address[](3);
        submitters[0] = _contributor;
        submitters[1] = _contributor2;
        submitters[2] = _outsider;
        for (uint256 i = 0; i < submitters.length; ++i) {
            vm.expectEmit(address(_registry));
            emit IPolicyRegistry.SubmitterSet(submitters[i], true, i + 1);
        }
        vm.prank(address(_timelock));
        _registry.setSubmitters(submitters, true);
        assertEq(_registry.policyVersion(), 3);
        assertTrue(_registry.isSubmitter(_outsider));
    }

    function test_RevertIf_SubmitterIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyZeroAddress.selector));
        vm.prank(address(_timelock));
        _registry.setSubmitter(address(0), true);
    }

    function test_SetAttestationRequirement() public {
        address[] memory attesters = _pair(_attester, _attester2);
        vm.expectEmit(address(_registry));
        emit IPolicyRegistry.AttestationRequirementSet(_dataSchemaUID, attesters, 2, 1 days, 1);
        vm.prank(address(_timelock));
        _registry.setAttestationRequirement(_dataSchemaUID, attesters, 2, 1 days);

        IPolicyRegistry.AttestationRequirement memory r = _registry.attestationRequirement();
        assertEq(r.schemaUID, _dataSchemaUID);
        assertEq(r.attesters, attesters);
        assertEq(uint256(r.minAttestations), 2);
        assertEq(uint256(r.maxAge), 1 days);
        assertTrue(_registry.isTrustedAttester(_attester));
        assertTrue(_registry.isTrustedAttester(_attester2));
        assertEq(_registry.policyVersion(), 1);
    }

    function test_NewAttestationRequirementForgetsPreviousAttesters() public {
        vm.startPrank(address(_timelock));
        _registry.setAttestationRequirement(_dataSchemaUID, _pair(_attester, _attester2), 1, 0);
        _registry.setAttestationRequirement(_dataSchemaUID, _pair(_attester2, _outsider), 1, 0);
        vm.stopPrank();
        assertFalse(_registry.isTrustedAttester(_attester));
        assertTrue(_registry.isTrustedAttester(_attester2));
        assertTrue(_registry.isTrustedAttester(_outsider));
        assertEq(_registry.policyVersion(), 2);
    }

    function testFuzz_RevertIf_AttestationRequirementUnsatisfiable(uint8 minAttestations) public {
        vm.assume(minAttestations == 0 || minAttestations > 2);
        vm.expectRevert(
            abi.encodeWithSelector(IPolicyRegistry.PolicyInvalidAttestationRequirement.selector, minAttestations, 2)
        );
        vm.prank(address(_timelock));
        _registry.setAttestationRequirement(_dataSchemaUID, _pair(_attester, _attester2), minAttestations, 0);
    }

    function test_RevertIf_AttestationSchemaIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyInvalidAttestationRequirement.selector, 1, 2));
        vm.prank(address(_timelock));
        _registry.setAttestationRequirement(bytes32(0), _pair(_attester, _attester2), 1, 0);
    }

    function test_RevertIf_AttesterIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyZeroAddress.selector));
        vm.prank(address(_timelock));
        _registry.setAttestationRequirement(_dataSchemaUID, _pair(_attester, address(0)), 1, 0);
    }

    function test_RevertIf_AttesterListedTwice() public {
        vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyDuplicateAddress.selector, _attester));
        vm.prank(address(_timelock));
        _registry.setAttestationRequirement(_dataSchemaUID, _pair(_attester, _attester), 1, 0);
    }

    function testFuzz_SetQuota(address who, uint64 queries) public {
        vm.assume(who != address(0));
        vm.expectEmit(address(_registry));
        emit IPolicyRegistry.QuotaSet(who, queries, 1);
        vm.prank(address(_timelock));
        _registry.setQuota(who, queries);
        assertEq(uint256(_registry.quotaOf(who)), queries);
        assertEq(_registry.policyVersion(), 1);
    }

    function test_RevertIf_QuotaConsumerIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyZeroAddress.selector));
        vm.prank(address(_timelock));
        _registry.setQuota(address(0), 1);
    }

    function testFuzz_SetQueryFee(uint256 fee) public {
        vm.expectEmit(address(_registry));
        emit IPolicyRegistry.QueryFeeSet(fee, 1);
        vm.prank(address(_timelock));
        _registry.setQueryFee(fee);
        assertEq(_registry.feePerQuery(), fee);
    }

    function test_SetCommittee() public {
        address[] memory members = _pair(_holders[0], _holders[1]);
        bytes[] memory keys = _keys(2);
        vm.expectEmit(address(_registry));
        emit IPolicyRegistry.CommitteeSet(1, members, keys, 2, 1);
        vm.prank(address(_timelock));
        _registry.setCommittee(members, keys, 2);

        (uint64 id, address[] memory storedMembers, bytes[] memory storedKeys, uint8 threshold) = _registry.committee();
        assertEq(uint256(id), 1);
        assertEq(storedMembers, members);
        assertEq(storedKeys[1], keys[1]);
        assertEq(uint256(threshold), 2);

        // A new committee replaces the old one entirely and gets the next id.
        members = new address[](1);
        members[0] = _holders[2];
        keys = new bytes[](1);
        keys[0] = _keys(3)[2];
        vm.expectEmit(address(_registry));
        emit IPolicyRegistry.CommitteeSet(2, members, keys, 1, 2);
        vm.prank(address(_timelock));
        _registry.setCommittee(members, keys, 1);
        (id, storedMembers, storedKeys, ) = _registry.committee();
        assertEq(uint256(id), 2);
        assertEq(storedMembers.length, 1);
        assertEq(storedKeys.length, 1);
    }

    function test_RevertIf_CommitteeKeysMismatch() public {
        vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyLengthMismatch.selector, 2, 1));
        vm.prank(address(_timelock));
        _registry.setCommittee(_pair(_holders[0], _holders[1]), new bytes[](1), 1);
    }

    function testFuzz_RevertIf_CommitteeThresholdOutOfRange(uint8 threshold) public {
        vm.assume(threshold == 0 || threshold > 2);
        vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyInvalidCommittee.selector, threshold, 2));
        vm.prank(address(_timelock));
        _registry.setCommittee(_pair(_holders[0], _holders[1]), _keys(2), threshold);
    }

    function test_RevertIf_CommitteeMemberInvalid() public {
        vm.startPrank(address(_timelock));
        vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyZeroAddress.selector));
        _registry.setCommittee(_pair(_holders[0], address(0)), _keys(2), 1);
        vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyDuplicateAddress.selector, _holders[0]));
        _registry.setCommittee(_pair(_holders[0], _holders[0]), _keys(2), 1);
        vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyInvalidPublicKey.selector, _holders[0]));
        _registry.setCommittee(_pair(_holders[0], _holders[1]), _keys(2, 0), 1);
        vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyInvalidPublicKey.selector, _holders[0]));
        _registry.setCommittee(_pair(_holders[0], _holders[1]), _keys(2, 257), 1);
        vm.stopPrank();
        assertEq(_registry.policyVersion(), 0);
    }

    /// @dev Issue 19: with keys [K1, K1, K2] and threshold 2, K1's holder unwraps two shares and
    /// recovers every data key alone.
    function test_RevertIf_committeeRepeatsAPublicKey() public {
        address[] memory members = new address[](3);
        (members[0], members[1], members[2]) = (_holders[0], _holders[1], _holders[2]);
        bytes[] memory keys = _keys(3);
        keys[1] = keys[0];
        vm.expectRevert(
            abi.encodeWithSelector(IPolicyRegistry.PolicyDuplicatePublicKey.selector, _holders[1], _holders[0])
        );
        vm.prank(address(_timelock));
        _registry.setCommittee(members, keys, 2);
        (uint64 id, , , ) = _registry.committee();
        assertEq(uint256(id), 0);
        assertEq(_registry.policyVersion(), 0);
    }

    /// @dev Keys the keyholders cannot use would make every upload fail after its data was stored.
    function test_RevertIf_committeeKeyMalformed() public {
        bytes[] memory bad = new bytes[](6);
        bad[0] = hex"0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"; // wrong prefix
        bad[1] = hex"0079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"; // wrong prefix
        bad[2] = hex"0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f817"; // 32 bytes
        bad[3] = bytes.concat(_keys(1)[0], hex"00"); // 34 bytes
        bad[4] = hex"020000000000000000000000000000000000000000000000000000000000000005"; // x not on the curve
        bad[5] = hex"03fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc30"; // x beyond the field
        for (uint256 i = 0; i < bad.length; ++i) {
            bytes[] memory keys = _keys(2);
            keys[1] = bad[i];
            vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyInvalidPublicKey.selector, _holders[1]));
            vm.prank(address(_timelock));
            _registry.setCommittee(_pair(_holders[0], _holders[1]), keys, 1);
        }
        assertEq(_registry.policyVersion(), 0);
    }

    function test_ApproveAndRevokeTrainingRun() public {
        uint64 expiresAt = uint64(block.timestamp + 1 days);
        vm.startPrank(address(_timelock));
        _registry.setWorker(_worker, true);
        vm.expectEmit(address(_registry));
        emit IPolicyRegistry.TrainingRunApproved(RUN_ID, SPEC_HASH, _worker, expiresAt, 2);
        _registry.approveTrainingRun(RUN_ID, SPEC_HASH, _worker, expiresAt);
        assertTrue(_registry.isTrainingRunApproved(RUN_ID));
        IPolicyRegistry.TrainingRun memory run = _registry.trainingRun(RUN_ID);
        assertEq(run.specHash, SPEC_HASH);
        assertEq(run.operator, _worker);

        vm.expectEmit(address(_registry));
        emit IPolicyRegistry.TrainingRunRevoked(RUN_ID, 3);
        _registry.revokeTrainingRun(RUN_ID);
        vm.stopPrank();
        assertFalse(_registry.isTrainingRunApproved(RUN_ID));
        assertTrue(_registry.trainingRun(RUN_ID).revoked);
    }

    function test_TrainingRunApprovalLapses() public {
        _approveRun(uint64(block.timestamp + 1 days));
        vm.warp(block.timestamp + 1 days - 1);
        assertTrue(_registry.isTrainingRunApproved(RUN_ID));
        vm.warp(block.timestamp + 1);
        assertFalse(_registry.isTrainingRunApproved(RUN_ID));
    }

    function test_RevertIf_TrainingRunInvalid() public {
        vm.startPrank(address(_timelock));
        // The operator must be an authorised worker.
        vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyInvalidTrainingRun.selector, RUN_ID));
        _registry.approveTrainingRun(RUN_ID, SPEC_HASH, _worker, uint64(block.timestamp + 1));
        _registry.setWorker(_worker, true);
        // Its expiry must be in the future.
        vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyInvalidTrainingRun.selector, RUN_ID));
        _registry.approveTrainingRun(RUN_ID, SPEC_HASH, _worker, uint64(block.timestamp));
        vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyZeroAddress.selector));
        _registry.approveTrainingRun(RUN_ID, SPEC_HASH, address(0), uint64(block.timestamp + 1));
        _registry.approveTrainingRun(RUN_ID, SPEC_HASH, _worker, uint64(block.timestamp + 1));
        // A run id is used once, even after its approval is revoked.
        _registry.revokeTrainingRun(RUN_ID);
        vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyTrainingRunExists.selector, RUN_ID));
        _registry.approveTrainingRun(RUN_ID, SPEC_HASH, _worker, uint64(block.timestamp + 1));
        vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyUnknownTrainingRun.selector, SPEC_HASH));
        _registry.revokeTrainingRun(SPEC_HASH);
        vm.stopPrank();
    }

    /// @dev Issue 19: a run must not read as approved while everything is stopped.
    function test_TrainingRunNotApprovedWhileKillSwitchEngaged() public {
        _approveRun(uint64(block.timestamp + 1 days));
        vm.prank(_guardian);
        _registry.engageKillSwitch("stop training");
        assertFalse(_registry.isTrainingRunApproved(RUN_ID));
    }

    /// @dev Issue 19: removing a worker withdraws its runs for good; authorising it again (after
    /// its key was rotated back, say) must not bring back runs approved for its old self.
    function test_RevertIf_reauthorisedWorkerRevivesItsOldRuns() public {
        _approveRun(uint64(block.timestamp + 1 days));
        vm.startPrank(address(_timelock));
        _registry.setWorker(_worker, false);
        _registry.setWorker(_worker, true);
        vm.stopPrank();
        assertFalse(_registry.isTrainingRunApproved(RUN_ID));
        assertTrue(_registry.trainingRun(RUN_ID).revoked);

        // A run approved after the new authorisation stands.
        bytes32 newRun = keccak256("run-2");
        vm.prank(address(_timelock));
        _registry.approveTrainingRun(newRun, SPEC_HASH, _worker, uint64(block.timestamp + 1 days));
        assertTrue(_registry.isTrainingRunApproved(newRun));
        assertFalse(_registry.trainingRun(newRun).revoked);
    }

    /// @dev Authorising a worker that is already authorised changes nothing for its runs.
    function test_RepeatedAuthorisationKeepsRuns() public {
        _approveRun(uint64(block.timestamp + 1 days));
        vm.prank(address(_timelock));
        _registry.setWorker(_worker, true);
        assertTrue(_registry.isTrainingRunApproved(RUN_ID));
    }

    function testFuzz_SetWorker(address who, bool authorised) public {
        vm.assume(who != address(0));
        vm.expectEmit(address(_registry));
        emit IPolicyRegistry.WorkerSet(who, authorised, 1);
        vm.prank(address(_timelock));
        _registry.setWorker(who, authorised);
        assertEq(_registry.isWorker(who), authorised);
    }

    function test_RevertIf_WorkerIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyZeroAddress.selector));
        vm.prank(address(_timelock));
        _registry.setWorker(address(0), true);
    }

    function testFuzz_SetRevealDelay(uint64 delay) public {
        delay = uint64(_bound(delay, 0, 365 days));
        vm.expectEmit(address(_registry));
        emit IPolicyRegistry.RevealDelaySet(delay, 1);
        vm.prank(address(_timelock));
        _registry.setRevealDelay(delay);
        assertEq(uint256(_registry.revealDelay()), delay);
    }

    /// @dev Issue 19: `setRevealDelay(type(uint64).max)` made every `commitModel` overflow.
    function testFuzz_RevertIf_revealDelayOverflowsCommitments(uint64 delay) public {
        delay = uint64(_bound(delay, 365 days + 1, type(uint64).max));
        vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyInvalidRevealDelay.selector, delay, 365 days));
        vm.prank(address(_timelock));
        _registry.setRevealDelay(delay);
        assertEq(uint256(_registry.revealDelay()), REVEAL_DELAY);

        vm.expectRevert(
            abi.encodeWithSelector(IPolicyRegistry.PolicyInvalidRevealDelay.selector, type(uint64).max, 365 days)
        );
        vm.prank(address(_timelock));
        _registry.setRevealDelay(type(uint64).max);
        assertEq(_registry.policyVersion(), 0);
    }

    function testFuzz_SetGuardian(address newGuardian) public {
        vm.expectEmit(address(_registry));
        emit IPolicyRegistry.GuardianSet(_guardian, newGuardian, 1);
        vm.prank(address(_timelock));
        _registry.setGuardian(newGuardian);
        assertEq(_registry.guardian(), newGuardian);
    }

    // ---------------------------------------------------------------------------------------------
    // Kill switch
    // ---------------------------------------------------------------------------------------------

    function test_GuardianEngagesKillSwitch() public {
        vm.warp(1234);
        vm.expectEmit(address(_registry));
        emit IPolicyRegistry.KillSwitchEngaged(1, _guardian, "leak suspected", 1);
        vm.prank(_guardian);
        _registry.engageKillSwitch("leak suspected");

        IPolicyRegistry.KillSwitch memory k = _registry.killSwitch();
        assertTrue(k.engaged);
        assertEq(uint256(k.engagementId), 1);
        assertEq(k.engagedBy, _guardian);
        assertEq(uint256(k.engagedAt), 1234);
        assertEq(k.reason, "leak suspected");
        assertTrue(_registry.killSwitchEngaged());
    }

    function test_TimelockEngagesAndLiftsKillSwitch() public {
        vm.startPrank(address(_timelock));
        _registry.engageKillSwitch("vote to stop");
        assertEq(_registry.killSwitch().engagedBy, address(_timelock));
        vm.expectEmit(address(_registry));
        emit IPolicyRegistry.KillSwitchLifted(1, address(_timelock), 2);
        _registry.liftKillSwitch(1);
        vm.stopPrank();
        IPolicyRegistry.KillSwitch memory k = _registry.killSwitch();
        assertFalse(k.engaged);
        assertEq(k.engagedBy, address(0));
        assertEq(k.reason, "");
    }

    function testFuzz_RevertIf_OutsiderEngagesKillSwitch(address caller) public {
        vm.assume(caller != _guardian && caller != address(_timelock));
        vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyNotGuardian.selector, caller, _guardian));
        vm.prank(caller);
        _registry.engageKillSwitch("stop");
        assertFalse(_registry.killSwitchEngaged());
    }

    function test_RevertIf_GuardianLiftsKillSwitch() public {
        vm.prank(_guardian);
        _registry.engageKillSwitch("stop");
        vm.expectRevert(
            abi.encodeWithSelector(IPolicyRegistry.PolicyUnauthorized.selector, _guardian, address(_timelock))
        );
        vm.prank(_guardian);
        _registry.liftKillSwitch(1);
        assertTrue(_registry.killSwitchEngaged());
    }

    function test_RevertIf_KillSwitchEngagedTwice() public {
        vm.prank(_guardian);
        _registry.engageKillSwitch("stop");
        vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyKillSwitchAlreadyEngaged.selector));
        vm.prank(address(_timelock));
        _registry.engageKillSwitch("stop again");
        assertEq(_registry.killSwitch().engagedBy, _guardian);
    }

    function test_RevertIf_KillSwitchLiftedWhileNotEngaged() public {
        vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyKillSwitchNotEngaged.selector));
        vm.prank(address(_timelock));
        _registry.liftKillSwitch(1);
    }

    /// @dev Issue 19: two lift proposals pass for incident 1 and one executes; later the guardian
    /// engages for incident 2 and someone executes the stale one. It names incident 1, so it
    /// reverts and the switch stays engaged until a vote on incident 2.
    function test_RevertIf_staleLiftLiftsALaterEngagement() public {
        vm.prank(_guardian);
        _registry.engageKillSwitch("incident 1");
        Proposal memory first = _proposal(address(_registry), abi.encodeCall(IPolicyRegistry.liftKillSwitch, (1)));
        Proposal memory second = _proposal(address(_registry), abi.encodeCall(IPolicyRegistry.liftKillSwitch, (1)));
        uint256 firstId = _propose(first);
        uint256 secondId = _propose(second);
        _rollToVoting(secondId);
        _voteAll(firstId, 1);
        _voteAll(secondId, 1);
        _rollPastVoting(secondId);
        _queue(first);
        _queue(second);
        _warpPastTimelock(second);
        _execute(first);
        assertFalse(_registry.killSwitchEngaged());

        vm.warp(block.timestamp + 30 days);
        vm.prank(_guardian);
        _registry.engageKillSwitch("incident 2");
        vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyKillSwitchEngagementMismatch.selector, 1, 2));
        _execute(second);
        assertTrue(_registry.killSwitchEngaged());
        assertEq(_registry.killSwitch().reason, "incident 2");
    }

    /// @dev Ids keep counting across lifts, so no two engagements share one.
    function test_KillSwitchEngagementsAreNumbered() public {
        vm.prank(_guardian);
        _registry.engageKillSwitch("incident 1");
        vm.prank(address(_timelock));
        _registry.liftKillSwitch(1);
        assertEq(uint256(_registry.killSwitch().engagementId), 0);
        vm.expectEmit(address(_registry));
        emit IPolicyRegistry.KillSwitchEngaged(2, _guardian, "incident 2", 3);
        vm.prank(_guardian);
        _registry.engageKillSwitch("incident 2");
        assertEq(uint256(_registry.killSwitch().engagementId), 2);
        vm.startPrank(address(_timelock));
        for (uint64 stale = 0; stale < 4; ++stale) {
            if (stale == 2) continue;
            vm.expectRevert(
                abi.encodeWithSelector(IPolicyRegistry.PolicyKillSwitchEngagementMismatch.selector, stale, 2)
            );
            _registry.liftKillSwitch(stale);
        }
        _registry.liftKillSwitch(2);
        vm.stopPrank();
        assertFalse(_registry.killSwitchEngaged());
    }

    function testFuzz_RevertIf_KillSwitchReasonEmptyOrTooLong(uint256 length) public {
        length = _bound(length, 0, 1024);
        vm.assume(length == 0 || length > 280);
        vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyInvalidReason.selector, length));
        vm.prank(_guardian);
        _registry.engageKillSwitch(string(new bytes(length)));
    }

    function test_KillSwitchReasonOf280BytesAccepted() public {
        vm.prank(_guardian);
        _registry.engageKillSwitch(string(new bytes(280)));
        assertTrue(_registry.killSwitchEngaged());
    }

    function test_FormerGuardianCannotEngageKillSwitch() public {
        vm.prank(address(_timelock));
        _registry.setGuardian(_outsider);
        vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyNotGuardian.selector, _guardian, _outsider));
        vm.prank(_guardian);
        _registry.engageKillSwitch("stop");
        vm.prank(_outsider);
        _registry.engageKillSwitch("stop");
        assertTrue(_registry.killSwitchEngaged());
    }

    // ---------------------------------------------------------------------------------------------
    // Epochs and construction
    // ---------------------------------------------------------------------------------------------

    function testFuzz_Epochs(uint256 elapsed) public {
        elapsed = _bound(elapsed, 0, 100 * 365 days);
        uint256 genesis = _registry.epochGenesis();
        vm.warp(genesis + elapsed);
        uint64 epoch = _registry.currentEpoch();
        assertEq(uint256(epoch), elapsed / EPOCH_LENGTH);
        assertGt(uint256(_registry.epochEnd(epoch)), block.timestamp);
        assertLte(uint256(_registry.epochEnd(epoch)) - EPOCH_LENGTH, block.timestamp);
    }

    function test_RevertIf_ConstructedWithoutTimelock() public {
        vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyZeroAddress.selector));
        new PolicyRegistry(address(0), _guardian, EPOCH_LENGTH, REVEAL_DELAY);
    }

    function test_RevertIf_ConstructedWithRevealDelayBeyondAYear() public {
        vm.expectRevert(
            abi.encodeWithSelector(IPolicyRegistry.PolicyInvalidRevealDelay.selector, type(uint64).max, 365 days)
        );
        new PolicyRegistry(address(_timelock), _guardian, EPOCH_LENGTH, type(uint64).max);
    }

    function test_RevertIf_ConstructedWithZeroEpoch() public {
        vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyInvalidEpochLength.selector));
        new PolicyRegistry(address(_timelock), _guardian, 0, REVEAL_DELAY);
    }

    // ---------------------------------------------------------------------------------------------
    // Helpers
    // ---------------------------------------------------------------------------------------------

    /// @notice Expects `data`, called on the registry by `caller`, to revert with `PolicyUnauthorized`.
    function _expectUnauthorized(address caller, bytes memory data) internal {
        vm.expectRevert(
            abi.encodeWithSelector(IPolicyRegistry.PolicyUnauthorized.selector, caller, address(_timelock))
        );
        vm.prank(caller);
        // A low-level call lets one loop try every setter.
        // solhint-disable-next-line avoid-low-level-calls
        (bool success, ) = address(_registry).call(data);
        // With expectRevert, a low-level call reports success when it reverted as expected.
        assertTrue(success);
    }

    function _approveRun(uint64 expiresAt) internal {
        vm.startPrank(address(_timelock));
        _registry.setWorker(_worker, true);
        _registry.approveTrainingRun(RUN_ID, SPEC_HASH, _worker, expiresAt);
        vm.stopPrank();
    }

    function _pair(address a, address b) internal pure returns (address[] memory pair) {
        pair = new address[](2);
        pair[0] = a;
        pair[1] = b;
    }

    /// @notice `count` distinct, valid keyholder public keys (compressed secp256k1 points: 1G, 2G, 3G...).
    function _keys(uint256 count) internal pure returns (bytes[] memory keys) {
        bytes[4] memory points = [
            bytes(hex"0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"),
            hex"02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5",
            hex"02f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9",
            hex"02e493dbf1c10d80f3581e4904930b1404cc6c13900ee0758474fa94abe8c4cd13"
        ];
        keys = new bytes[](count);
        for (uint256 i = 0; i < count; ++i) {
            keys[i] = points[i];
        }
    }

    /// @notice `count` public keys of `length` bytes each.
    function _keys(uint256 count, uint256 length) internal pure returns (bytes[] memory keys) {
        keys = new bytes[](count);
        for (uint256 i = 0; i < count; ++i) {
            keys[i] = new bytes(length);
        }
    }
}
