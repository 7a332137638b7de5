// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IPolicyRegistry} from "../interfaces/IPolicyRegistry.sol";

/// @title PolicyRegistry
/// @notice The AI's policy. See {IPolicyRegistry}.
/// @dev There is no owner and no upgrade path: the timelock is fixed at deployment, and only it
/// (that is, a passed proposal) changes policy. The guardian can only engage the kill switch.
contract PolicyRegistry is IPolicyRegistry {
    /// @dev The longest kill switch reason accepted, in bytes (a tweet).
    uint256 private constant _MAX_REASON_LENGTH = 280;
    /// @dev The longest keyholder public key accepted, in bytes.
    uint256 private constant _MAX_PUBLIC_KEY_LENGTH = 256;

    address public immutable override timelock;
    uint64 public immutable override epochLength;
    uint64 public immutable override epochGenesis;

    /// @dev Invariant: only ever incremented, by exactly one per change, in `_bump`.
    uint256 public override policyVersion;

    address public override guardian;
    uint256 public override feePerQuery;
    uint64 public override revealDelay;

    mapping(address submitter => bool allowed) private _submitters;
    mapping(address consumer => uint64 queriesPerEpoch) private _quotas;
    mapping(address worker => bool authorised) private _workers;
    mapping(bytes32 runId => TrainingRun) private _trainingRuns;

    AttestationRequirement private _requirement;
    /// @dev Mirrors `_requirement.attesters` for O(1) lookups; cleared whenever the requirement changes.
    mapping(address attester => bool trusted) private _trustedAttesters;

    uint64 private _committeeId;
    address[] private _committeeMembers;
    bytes[] private _committeeKeys;
    uint8 private _committeeThreshold;

    KillSwitch private _killSwitch;

    modifier onlyTimelock() {
        if (msg.sender != timelock) revert PolicyUnauthorized(msg.sender, timelock);
        _;
    }

    /// @param timelock_ The TimelockController that executes the DAO's proposals.
    /// @param guardian_ Who may engage the kill switch besides the timelock (a Safe in production).
    /// @param epochLength_ Length of a quota and reward epoch, in seconds.
    /// @param revealDelay_ Initial delay before a committed model may be revealed, in seconds.
    constructor(address timelock_, address guardian_, uint64 epochLength_, uint64 revealDelay_) {
        if (timelock_ == address(0)) revert PolicyZeroAddress();
        if (epochLength_ == 0) revert PolicyInvalidEpochLength();
        timelock = timelock_;
        guardian = guardian_;
        epochLength = epochLength_;
        epochGenesis = uint64(block.timestamp);
        revealDelay = revealDelay_;
    }

    // ---------------------------------------------------------------------------------------------
    // Submitters
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IPolicyRegistry
    function setSubmitter(address submitter, bool allowed) external onlyTimelock {
        _setSubmitter(submitter, allowed);
    }

    /// @inheritdoc IPolicyRegistry
    function setSubmitters(address[] calldata submitters, bool allowed) external onlyTimelock {
        for (uint256 i = 0; i < submitters.length; ++i) {
            _setSubmitter(submitters[i], allowed);
        }
    }

    /// @inheritdoc IPolicyRegistry
    function isSubmitter(address submitter) external view returns (bool) {
        return _submitters[submitter];
    }

    function _setSubmitter(address submitter, bool allowed) private {
        if (submitter == address(0)) revert PolicyZeroAddress();
        _submitters[submitter] = allowed;
        emit SubmitterSet(submitter, allowed, _bump());
    }

    // ---------------------------------------------------------------------------------------------
    // Attestations
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IPolicyRegistry
    function setAttestationRequirement(
        bytes32 schemaUID,
        address[] calldata attesters,
        uint8 minAttestations,
        uint64 maxAge
    ) external onlyTimelock {
        if (schemaUID == bytes32(0) || minAttestations == 0 || minAttestations > attesters.length) {
            revert PolicyInvalidAttestationRequirement(minAttestations, attesters.length);
        }
        address[] storage previous = _requirement.attesters;
        for (uint256 i = 0; i < previous.length; ++i) {
            _trustedAttesters[previous[i]] = false;
        }
        for (uint256 i = 0; i < attesters.length; ++i) {
            address attester = attesters[i];
            if (attester == address(0)) revert PolicyZeroAddress();
            if (_trustedAttesters[attester]) revert PolicyDuplicateAddress(attester);
            _trustedAttesters[attester] = true;
        }
        _requirement = AttestationRequirement(schemaUID, attesters, minAttestations, maxAge);
        emit AttestationRequirementSet(schemaUID, attesters, minAttestations, maxAge, _bump());
    }

    /// @inheritdoc IPolicyRegistry
    function attestationRequirement() external view returns (AttestationRequirement memory) {
        return _requirement;
    }

    /// @inheritdoc IPolicyRegistry
    function isTrustedAttester(address attester) external view returns (bool) {
        return _trustedAttesters[attester];
    }

    // ---------------------------------------------------------------------------------------------
    // Quotas, fees and epochs
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IPolicyRegistry
    function setQuota(address consumer, uint64 queriesPerEpoch) external onlyTimelock {
        if (consumer == address(0)) revert PolicyZeroAddress();
        _quotas[consumer] = queriesPerEpoch;
        emit QuotaSet(consumer, queriesPerEpoch, _bump());
    }

    /// @inheritdoc IPolicyRegistry
    function quotaOf(address consumer) external view returns (uint64) {
        return _quotas[consumer];
    }

    /// @inheritdoc IPolicyRegistry
    function setQueryFee(uint256 feePerQuery_) external onlyTimelock {
        feePerQuery = feePerQuery_;
        emit QueryFeeSet(feePerQuery_, _bump());
    }

    /// @inheritdoc IPolicyRegistry
    function currentEpoch() public view returns (uint64) {
        return uint64((block.timestamp - epochGenesis) / epochLength);
    }

    /// @inheritdoc IPolicyRegistry
    function epochEnd(uint64 epoch) external view returns (uint64) {
        return epochGenesis + (epoch + 1) * epochLength;
    }

    // ---------------------------------------------------------------------------------------------
    // Keyholder committee
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IPolicyRegistry
    function setCommittee(
        address[] calldata members,
        bytes[] calldata publicKeys,
        uint8 threshold
    ) external onlyTimelock {
        if (publicKeys.length != members.length) revert PolicyLengthMismatch(members.length, publicKeys.length);
        if (threshold == 0 || threshold > members.length) revert PolicyInvalidCommittee(threshold, members.length);
        for (uint256 i = 0; i < members.length; ++i) {
            if (members[i] == address(0)) revert PolicyZeroAddress();
            uint256 keyLength = publicKeys[i].length;
            if (keyLength == 0 || keyLength > _MAX_PUBLIC_KEY_LENGTH) revert PolicyInvalidPublicKey(members[i]);
            // Committees are small (a handful of keyholders), so the quadratic check is cheap.
            for (uint256 j = 0; j < i; ++j) {
                if (members[j] == members[i]) revert PolicyDuplicateAddress(members[i]);
            }
        }
        _committeeMembers = members;
        delete _committeeKeys;
        for (uint256 i = 0; i < publicKeys.length; ++i) {
            _committeeKeys.push(publicKeys[i]);
        }
        _committeeThreshold = threshold;
        uint64 id = ++_committeeId;
        emit CommitteeSet(id, members, publicKeys, threshold, _bump());
    }

    /// @inheritdoc IPolicyRegistry
    function committee()
        external
        view
        returns (uint64 committeeId, address[] memory members, bytes[] memory publicKeys, uint8 threshold)
    {
        return (_committeeId, _committeeMembers, _committeeKeys, _committeeThreshold);
    }

    // ---------------------------------------------------------------------------------------------
    // Training runs
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IPolicyRegistry
    function approveTrainingRun(
        bytes32 runId,
        bytes32 specHash,
        address operator,
        uint64 expiresAt
    ) external onlyTimelock {
        if (_trainingRuns[runId].operator != address(0)) revert PolicyTrainingRunExists(runId);
        if (operator == address(0)) revert PolicyZeroAddress();
        if (expiresAt <= block.timestamp || !_workers[operator]) revert PolicyInvalidTrainingRun(runId);
        _trainingRuns[runId] = TrainingRun(specHash, operator, expiresAt, false);
        emit TrainingRunApproved(runId, specHash, operator, expiresAt, _bump());
    }

    /// @inheritdoc IPolicyRegistry
    function revokeTrainingRun(bytes32 runId) external onlyTimelock {
        TrainingRun storage run = _trainingRuns[runId];
        if (run.operator == address(0)) revert PolicyUnknownTrainingRun(runId);
        run.revoked = true;
        emit TrainingRunRevoked(runId, _bump());
    }

    /// @inheritdoc IPolicyRegistry
    function trainingRun(bytes32 runId) external view returns (TrainingRun memory) {
        return _trainingRuns[runId];
    }

    /// @inheritdoc IPolicyRegistry
    function isTrainingRunApproved(bytes32 runId) external view returns (bool) {
        TrainingRun storage run = _trainingRuns[runId];
        // A worker the DAO has removed loses its runs with it: keyholders and ModelCommitments rely on this.
        return run.operator != address(0) && !run.revoked && block.timestamp < run.expiresAt && _workers[run.operator];
    }

    // ---------------------------------------------------------------------------------------------
    // Workers and model publication
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IPolicyRegistry
    function setWorker(address worker, bool authorised) external onlyTimelock {
        if (worker == address(0)) revert PolicyZeroAddress();
        _workers[worker] = authorised;
        emit WorkerSet(worker, authorised, _bump());
    }

    /// @inheritdoc IPolicyRegistry
    function isWorker(address worker) external view returns (bool) {
        return _workers[worker];
    }

    /// @inheritdoc IPolicyRegistry
    function setRevealDelay(uint64 revealDelay_) external onlyTimelock {
        revealDelay = revealDelay_;
        emit RevealDelaySet(revealDelay_, _bump());
    }

    // ---------------------------------------------------------------------------------------------
    // Guardian and kill switch
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IPolicyRegistry
    function setGuardian(address guardian_) external onlyTimelock {
        emit GuardianSet(guardian, guardian_, _bump());
        guardian = guardian_;
    }

    /// @inheritdoc IPolicyRegistry
    function engageKillSwitch(string calldata reason) external {
        if (msg.sender != guardian && msg.sender != timelock) revert PolicyNotGuardian(msg.sender, guardian);
        if (_killSwitch.engaged) revert PolicyKillSwitchAlreadyEngaged();
        uint256 length = bytes(reason).length;
        if (length == 0 || length > _MAX_REASON_LENGTH) revert PolicyInvalidReason(length);
        _killSwitch = KillSwitch(true, msg.sender, uint64(block.timestamp), reason);
        emit KillSwitchEngaged(msg.sender, reason, _bump());
    }

    /// @inheritdoc IPolicyRegistry
    function liftKillSwitch() external onlyTimelock {
        if (!_killSwitch.engaged) revert PolicyKillSwitchNotEngaged();
        delete _killSwitch;
        emit KillSwitchLifted(msg.sender, _bump());
    }

    /// @inheritdoc IPolicyRegistry
    function killSwitchEngaged() external view returns (bool) {
        return _killSwitch.engaged;
    }

    /// @inheritdoc IPolicyRegistry
    function killSwitch() external view returns (KillSwitch memory) {
        return _killSwitch;
    }

    /// @dev The only writer of `policyVersion`.
    function _bump() private returns (uint256) {
        return ++policyVersion;
    }
}
