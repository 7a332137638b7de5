// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IPolicyRegistry} from "../interfaces/IPolicyRegistry.sol";

/// @title PolicyRegistry
/// @notice The AI's policy. See {IPolicyRegistry}.
/// @dev There is no owner and no upgrade path: the timelock is fixed at deployment, and only it
/// (that is, a passed proposal) changes policy. The guardian can only engage the kill switch.
// The registry is the whole policy, one mapping or value per kind of rule: more state than a
// contract usually holds, and splitting it would split the one policy version.
// solhint-disable-next-line max-states-count
contract PolicyRegistry is IPolicyRegistry {
    /// @dev The longest kill switch reason accepted, in bytes (a tweet).
    uint256 private constant _MAX_REASON_LENGTH = 280;
    /// @dev A keyholder public key is a compressed secp256k1 point: 0x02 or 0x03, then x.
    uint256 private constant _PUBLIC_KEY_LENGTH = 33;
    /// @dev secp256k1's field prime.
    uint256 private constant _SECP256K1_P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F;
    /// @dev The longest reveal delay accepted: long enough for any embargo, short enough that
    /// `block.timestamp + revealDelay` never overflows a uint64.
    uint64 private constant _MAX_REVEAL_DELAY = 365 days;
    /// @dev The most epochs a tier membership is bought for at once: a year of monthly epochs, so a
    /// price the DAO changes applies to everyone within a bounded time.
    uint64 private constant _MAX_TIER_EPOCHS = 12;

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
    /// @dev Invariant: only ever incremented, by one each time an authorised worker is removed.
    mapping(address worker => uint64 removals) private _workerRemovals;
    /// @dev The operator's removal count when the run was approved: a run stands only while they
    /// are equal, so removing its operator withdraws it for good, even if the worker comes back.
    mapping(bytes32 runId => uint64 operatorRemovals) private _runOperatorRemovals;

    AttestationRequirement private _requirement;
    /// @dev Mirrors `_requirement.attesters` for O(1) lookups; cleared whenever the requirement changes.
    mapping(address attester => bool trusted) private _trustedAttesters;

    uint64 private _committeeId;
    address[] private _committeeMembers;
    bytes[] private _committeeKeys;
    uint8 private _committeeThreshold;

    /// @notice A consumer's tier membership, packed in one slot.
    struct Membership {
        uint8 tierId;
        uint64 fromEpoch;
        uint64 untilEpoch;
    }

    mapping(uint8 tierId => Tier) private _tiers;
    /// @dev Invariant: only ever incremented, by `setTier` for the id `_tierCount`.
    uint8 private _tierCount;
    mapping(address consumer => Membership) private _memberships;
    /// @dev Invariant: `_tierMembers[t][e] <= _tiers[t].maxMembers` when it was incremented (a
    /// later vote may lower `maxMembers` below it).
    mapping(uint8 tierId => mapping(uint64 epoch => uint32 members)) private _tierMembers;

    KillSwitch private _killSwitch;
    /// @dev The id of the latest engagement, engaged or lifted; only ever incremented.
    uint64 private _lastEngagementId;

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
        if (revealDelay_ > _MAX_REVEAL_DELAY) revert PolicyInvalidRevealDelay(revealDelay_, _MAX_REVEAL_DELAY);
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
    function quotaAt(address consumer, uint64 epoch) public view returns (uint64) {
        uint64 voted = _quotas[consumer];
        if (voted != 0) return voted;
        Membership memory m = _memberships[consumer];
        if (epoch < m.fromEpoch || epoch >= m.untilEpoch) return 0;
        return _tiers[m.tierId].queriesPerEpoch;
    }

    /// @inheritdoc IPolicyRegistry
    function settlementTerms(
        address consumer,
        address worker,
        uint64 epoch
    ) external view returns (bool, uint64, uint256) {
        return (_workers[worker], quotaAt(consumer, epoch), feePerQuery);
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
    // Access tiers
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IPolicyRegistry
    function setTier(
        uint8 tierId,
        uint64 queriesPerEpoch,
        uint128 pricePerEpoch,
        bool open,
        uint32 maxMembers
    ) external onlyTimelock {
        uint8 count = _tierCount;
        if (tierId == count) {
            // A new id: it must grant something, and stay below 255 so that `_tierCount` fits.
            if (queriesPerEpoch == 0 || count == type(uint8).max) revert PolicyInvalidTier(tierId, count);
            _tierCount = count + 1;
        } else if (tierId > count) {
            revert PolicyInvalidTier(tierId, count);
        }
        _tiers[tierId] = Tier(queriesPerEpoch, pricePerEpoch, open, maxMembers);
        emit TierSet(tierId, queriesPerEpoch, pricePerEpoch, open, maxMembers, _bump());
    }

    /// @inheritdoc IPolicyRegistry
    function tier(uint8 tierId) external view returns (Tier memory) {
        return _tiers[tierId];
    }

    /// @inheritdoc IPolicyRegistry
    function tierCount() external view returns (uint8) {
        return _tierCount;
    }

    /// @inheritdoc IPolicyRegistry
    function joinTier(uint8 tierId, uint64 epochs) external payable {
        if (epochs == 0 || epochs > _MAX_TIER_EPOCHS) revert PolicyInvalidTierEpochs(epochs, _MAX_TIER_EPOCHS);
        Tier memory t = _tiers[tierId];
        if (t.queriesPerEpoch == 0) revert PolicyUnknownTier(tierId);
        uint256 price = uint256(t.pricePerEpoch) * epochs;
        if (msg.value != price) revert PolicyTierWrongPayment(price, msg.value);

        uint64 current = currentEpoch();
        Membership memory m = _memberships[msg.sender];
        // A membership of a removed tier grants nothing, so it does not hold its member back.
        bool granting = _tiers[m.tierId].queriesPerEpoch != 0;
        bool active = m.untilEpoch > current && granting;
        // A membership that ended as this epoch began still backs the last epoch's usage, which is
        // settled during this one (UsageSettlement reads `quotaAt` for it): it must stay readable.
        bool settling = m.untilEpoch == current && current != 0 && granting;
        uint64 from;
        if (active) {
            if (m.tierId != tierId) revert PolicyTierMembershipActive(m.tierId, m.untilEpoch);
            from = m.untilEpoch; // A renewal, allowed while the tier is closed.
        } else {
            if (settling && m.tierId != tierId) revert PolicyTierMembershipActive(m.tierId, m.untilEpoch);
            if (!t.open) revert PolicyTierClosed(tierId);
            from = current;
            // Joining the same tier again right after it ended continues the membership without a
            // gap, so `quotaAt` still answers for the epoch it ended with.
            if (!settling) m = Membership(tierId, current, current);
        }
        uint64 until = from + epochs;
        mapping(uint64 => uint32) storage members = _tierMembers[tierId];
        for (uint64 e = from; e < until; ++e) {
            uint32 count = members[e];
            if (t.maxMembers != 0 && count >= t.maxMembers) revert PolicyTierFull(tierId, e, t.maxMembers);
            members[e] = count + 1;
        }
        m.untilEpoch = until;
        _memberships[msg.sender] = m;
        emit TierJoined(msg.sender, tierId, from, until, msg.value, _bump());

        if (msg.value != 0) {
            // The timelock is the DAO's treasury; it accepts ether and holds no hook to reenter with.
            (bool ok, ) = timelock.call{value: msg.value}("");
            if (!ok) revert PolicyTransferFailed(timelock, msg.value);
        }
    }

    /// @inheritdoc IPolicyRegistry
    function membershipOf(address consumer) external view returns (uint8, uint64, uint64) {
        Membership memory m = _memberships[consumer];
        return (m.tierId, m.fromEpoch, m.untilEpoch);
    }

    /// @inheritdoc IPolicyRegistry
    function tierMembers(uint8 tierId, uint64 epoch) external view returns (uint32) {
        return _tierMembers[tierId][epoch];
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
            if (!_isCompressedSecp256k1Point(publicKeys[i])) revert PolicyInvalidPublicKey(members[i]);
            bytes32 keyHash = keccak256(publicKeys[i]);
            // Committees are small (a handful of keyholders), so the quadratic checks are cheap.
            for (uint256 j = 0; j < i; ++j) {
                if (members[j] == members[i]) revert PolicyDuplicateAddress(members[i]);
                if (keccak256(publicKeys[j]) == keyHash) revert PolicyDuplicatePublicKey(members[i], members[j]);
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

    /// @dev Whether `key` is a point on secp256k1 in SEC 1 compressed form: y^2 = x^3 + 7 has a
    /// solution exactly when x^3 + 7 is a square modulo p (Euler's criterion, by the modexp
    /// precompile). Either y then fits the prefix, so x alone decides.
    function _isCompressedSecp256k1Point(bytes calldata key) private view returns (bool) {
        if (key.length != _PUBLIC_KEY_LENGTH || (key[0] != 0x02 && key[0] != 0x03)) return false;
        uint256 x = uint256(bytes32(key[1:]));
        if (x >= _SECP256K1_P) return false;
        uint256 rhs = addmod(mulmod(mulmod(x, x, _SECP256K1_P), x, _SECP256K1_P), 7, _SECP256K1_P);
        (bool ok, bytes memory result) = address(0x05).staticcall(
            abi.encode(32, 32, 32, rhs, (_SECP256K1_P - 1) / 2, _SECP256K1_P)
        );
        // A failed precompile call refuses the key: fail closed.
        return ok && result.length == 32 && abi.decode(result, (uint256)) == 1;
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
        _runOperatorRemovals[runId] = _workerRemovals[operator];
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
    /// @dev `revoked` reads true once the operator has been removed since the approval.
    function trainingRun(bytes32 runId) external view returns (TrainingRun memory run) {
        run = _trainingRuns[runId];
        run.revoked = _isWithdrawn(runId, run);
    }

    /// @inheritdoc IPolicyRegistry
    function isTrainingRunApproved(bytes32 runId) external view returns (bool) {
        TrainingRun memory run = _trainingRuns[runId];
        // A worker the DAO has removed loses its runs with it, and an engaged kill switch stops
        // training: keyholders and ModelCommitments rely on both.
        return
            run.operator != address(0) &&
            !_isWithdrawn(runId, run) &&
            block.timestamp < run.expiresAt &&
            !_killSwitch.engaged;
    }

    /// @dev Revoked, or its operator removed since the approval (which implies it is not a worker
    /// now, or was authorised again after the approval).
    function _isWithdrawn(bytes32 runId, TrainingRun memory run) private view returns (bool) {
        return run.revoked || _runOperatorRemovals[runId] != _workerRemovals[run.operator];
    }

    // ---------------------------------------------------------------------------------------------
    // Workers and model publication
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IPolicyRegistry
    function setWorker(address worker, bool authorised) external onlyTimelock {
        if (worker == address(0)) revert PolicyZeroAddress();
        if (!authorised && _workers[worker]) ++_workerRemovals[worker];
        _workers[worker] = authorised;
        emit WorkerSet(worker, authorised, _bump());
    }

    /// @inheritdoc IPolicyRegistry
    function isWorker(address worker) external view returns (bool) {
        return _workers[worker];
    }

    /// @inheritdoc IPolicyRegistry
    function setRevealDelay(uint64 revealDelay_) external onlyTimelock {
        if (revealDelay_ > _MAX_REVEAL_DELAY) revert PolicyInvalidRevealDelay(revealDelay_, _MAX_REVEAL_DELAY);
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
        uint64 engagementId = ++_lastEngagementId;
        _killSwitch = KillSwitch(true, engagementId, msg.sender, uint64(block.timestamp), reason);
        emit KillSwitchEngaged(engagementId, msg.sender, reason, _bump());
    }

    /// @inheritdoc IPolicyRegistry
    function liftKillSwitch(uint64 engagementId) external onlyTimelock {
        if (!_killSwitch.engaged) revert PolicyKillSwitchNotEngaged();
        uint64 current = _killSwitch.engagementId;
        if (engagementId != current) revert PolicyKillSwitchEngagementMismatch(engagementId, current);
        delete _killSwitch;
        emit KillSwitchLifted(engagementId, msg.sender, _bump());
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
