// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IPolicyRegistry
/// @notice The AI's policy, open and on chain: who may submit training data, which attestations that
/// data must carry, how many queries each consumer may make (by vote, or by joining a voted access
/// tier) and at what fee, the keyholder committee, approved training runs, the workers the DAO
/// authorises, and the kill switch. Off-chain workers follow these events; contracts read these views.
/// @dev Every change is made by the timelock (so by a passed proposal), except engaging the kill
/// switch, which the guardian may also do, and joining a tier, which a consumer does by paying.
/// Every change increments `policyVersion()` and emits an event carrying the new version, so a
/// follower can tell it has missed nothing.
interface IPolicyRegistry {
    /// @notice What a contribution's attestations must satisfy.
    /// @param schemaUID The EAS schema the attestations must use. Its first field is the data's
    /// `bytes32` hash and its second the data's `uint64` size in bytes.
    /// @param attesters The attesters whose attestations count.
    /// @param minAttestations How many distinct trusted attesters must have attested.
    /// @param maxAge The oldest an attestation may be, in seconds (0: no limit).
    struct AttestationRequirement {
        bytes32 schemaUID;
        address[] attesters;
        uint8 minAttestations;
        uint64 maxAge;
    }

    /// @notice A training run the DAO approved: keyholders release shares only for such a run.
    /// @param specHash Hash of the run's specification (the data set it may read and its settings).
    /// @param operator The worker that may run it and commit the resulting model.
    /// @param expiresAt After this time the approval no longer counts.
    /// @param revoked Whether governance withdrew the approval: by revoking the run, or by removing
    /// its operator from the workers since the run was approved (authorising that worker again does
    /// not restore the run; the DAO approves a new one).
    struct TrainingRun {
        bytes32 specHash;
        address operator;
        uint64 expiresAt;
        bool revoked;
    }

    /// @notice Who engaged the kill switch, when, and why.
    /// @param engagementId Numbers engagements from 1, so that a lift names the one it lifts; 0
    /// while not engaged.
    struct KillSwitch {
        bool engaged;
        uint64 engagementId;
        address engagedBy;
        uint64 engagedAt;
        string reason;
    }

    /// @notice An access tier the DAO voted: consumers join it by paying, with no proposal.
    /// @param queriesPerEpoch A member's quota per epoch; 0 means the tier does not exist.
    /// @param pricePerEpoch What a member pays per epoch joined, in wei (to the DAO's treasury).
    /// @param open Whether new members may join; a member renews while the tier is closed.
    /// @param maxMembers How many members the tier takes per epoch (0: no limit).
    struct Tier {
        uint64 queriesPerEpoch;
        uint128 pricePerEpoch;
        bool open;
        uint32 maxMembers;
    }

    // ---------------------------------------------------------------------------------------------
    // Events: past tense; each carries the policy version the change produced.
    // ---------------------------------------------------------------------------------------------

    /// @notice A submitter was allowed to submit training data, or was removed.
    event SubmitterSet(address indexed submitter, bool allowed, uint256 policyVersion);
    /// @notice The attestation requirement for training data changed.
    event AttestationRequirementSet(
        bytes32 indexed schemaUID,
        address[] attesters,
        uint8 minAttestations,
        uint64 maxAge,
        uint256 policyVersion
    );
    /// @notice A consumer's quota per epoch changed (0 removes the consumer).
    event QuotaSet(address indexed consumer, uint64 queriesPerEpoch, uint256 policyVersion);
    /// @notice An access tier was set, or removed (`queriesPerEpoch == 0`).
    event TierSet(
        uint8 indexed tierId,
        uint64 queriesPerEpoch,
        uint128 pricePerEpoch,
        bool open,
        uint32 maxMembers,
        uint256 policyVersion
    );
    /// @notice `consumer` joined (or renewed) tier `tierId` for epochs `fromEpoch` to `untilEpoch`
    /// (exclusive), paying `paid` wei. A renewal's `fromEpoch` is where the paid extension starts.
    event TierJoined(
        address indexed consumer,
        uint8 indexed tierId,
        uint64 fromEpoch,
        uint64 untilEpoch,
        uint256 paid,
        uint256 policyVersion
    );
    /// @notice The fee a consumer pays per query changed.
    event QueryFeeSet(uint256 feePerQuery, uint256 policyVersion);
    /// @notice The keyholder committee was replaced; `committeeId` numbers committees from 1.
    event CommitteeSet(
        uint64 indexed committeeId,
        address[] members,
        bytes[] publicKeys,
        uint8 threshold,
        uint256 policyVersion
    );
    /// @notice A training run was approved.
    event TrainingRunApproved(
        bytes32 indexed runId,
        bytes32 specHash,
        address indexed operator,
        uint64 expiresAt,
        uint256 policyVersion
    );
    /// @notice A training run's approval was withdrawn.
    event TrainingRunRevoked(bytes32 indexed runId, uint256 policyVersion);
    /// @notice A worker was authorised to record contributions, settle usage and commit models, or was removed.
    event WorkerSet(address indexed worker, bool authorised, uint256 policyVersion);
    /// @notice The delay between committing a model and being allowed to reveal it changed.
    event RevealDelaySet(uint64 revealDelay, uint256 policyVersion);
    /// @notice The guardian (who may engage the kill switch) changed.
    event GuardianSet(address indexed previousGuardian, address indexed newGuardian, uint256 policyVersion);
    /// @notice The kill switch was engaged: workers stop ingest, inference and training at once.
    /// `engagementId` numbers engagements from 1; the lift must name it.
    event KillSwitchEngaged(uint64 indexed engagementId, address indexed by, string reason, uint256 policyVersion);
    /// @notice Engagement `engagementId` of the kill switch was lifted by governance.
    event KillSwitchLifted(uint64 indexed engagementId, address indexed by, uint256 policyVersion);

    // ---------------------------------------------------------------------------------------------
    // Errors: `<Component><Problem>`, with context.
    // ---------------------------------------------------------------------------------------------

    /// @notice Only the timelock (a passed proposal) may make this change.
    error PolicyUnauthorized(address caller, address timelock);
    /// @notice Only the guardian or the timelock may engage the kill switch.
    error PolicyNotGuardian(address caller, address guardian);
    /// @notice The kill switch is already engaged.
    error PolicyKillSwitchAlreadyEngaged();
    /// @notice The kill switch is not engaged, so there is nothing to lift.
    error PolicyKillSwitchNotEngaged();
    /// @notice The lift names another engagement than the current one (a stale proposal, voted on
    /// an earlier incident): lifting the current engagement takes its own vote.
    error PolicyKillSwitchEngagementMismatch(uint64 engagementId, uint64 currentEngagementId);
    /// @notice An address given was zero where a real account is required.
    error PolicyZeroAddress();
    /// @notice Two arrays that go together have different lengths.
    error PolicyLengthMismatch(uint256 expected, uint256 actual);
    /// @notice An attestation requirement is unsatisfiable or malformed.
    error PolicyInvalidAttestationRequirement(uint8 minAttestations, uint256 attesterCount);
    /// @notice A committee's threshold must be between 1 and its size, its members distinct.
    error PolicyInvalidCommittee(uint8 threshold, uint256 size);
    /// @notice A committee member's public key is not a 33-byte compressed secp256k1 point (0x02 or
    /// 0x03, then an x coordinate on the curve), so no keyholder could open the shares wrapped to it.
    error PolicyInvalidPublicKey(address member);
    /// @notice Two committee members share a public key: its holder would open both members'
    /// shares, one fewer than the threshold intends.
    error PolicyDuplicatePublicKey(address member, address firstMember);
    /// @notice The reveal delay is longer than the registry allows (a year), which would make
    /// committing a model overflow or publishing it meaningless.
    error PolicyInvalidRevealDelay(uint64 revealDelay, uint64 maxRevealDelay);
    /// @notice The same address appears twice where each must be unique.
    error PolicyDuplicateAddress(address account);
    /// @notice A training run with this id already exists.
    error PolicyTrainingRunExists(bytes32 runId);
    /// @notice No training run with this id exists.
    error PolicyUnknownTrainingRun(bytes32 runId);
    /// @notice A training run's expiry is in the past, or its operator is not an authorised worker.
    error PolicyInvalidTrainingRun(bytes32 runId);
    /// @notice The kill switch reason is empty or too long.
    error PolicyInvalidReason(uint256 length);
    /// @notice An epoch must last at least one second.
    error PolicyInvalidEpochLength();
    /// @notice Tier ids are given in order: a new tier takes the next id (`tierCount`), at most 254,
    /// and must grant at least one query per epoch.
    error PolicyInvalidTier(uint8 tierId, uint8 tierCount);
    /// @notice No such tier: never set, or removed by the DAO (0 queries per epoch).
    error PolicyUnknownTier(uint8 tierId);
    /// @notice The tier is closed to new members (its members may still renew).
    error PolicyTierClosed(uint8 tierId);
    /// @notice The tier already has its `maxMembers` members in `epoch`.
    error PolicyTierFull(uint8 tierId, uint64 epoch, uint32 maxMembers);
    /// @notice The value sent is not the tier's price times the epochs joined.
    error PolicyTierWrongPayment(uint256 expected, uint256 paid);
    /// @notice A membership is bought for 1 to `maxEpochs` epochs at a time.
    error PolicyInvalidTierEpochs(uint64 epochs, uint64 maxEpochs);
    /// @notice The consumer is a member of another tier until `untilEpoch`: one tier at a time. A
    /// membership that ended as the current epoch began still counts, since its last epoch is being
    /// settled: join another tier from the epoch after.
    error PolicyTierMembershipActive(uint8 tierId, uint64 untilEpoch);
    /// @notice Forwarding a tier payment of `amount` wei to the treasury `to` failed.
    error PolicyTransferFailed(address to, uint256 amount);

    // ---------------------------------------------------------------------------------------------
    // Submitters
    // ---------------------------------------------------------------------------------------------

    /// @notice Allow `submitter` to submit training data, or remove it. Timelock only.
    function setSubmitter(address submitter, bool allowed) external;
    /// @notice The batch form of `setSubmitter`. Timelock only.
    function setSubmitters(address[] calldata submitters, bool allowed) external;
    /// @notice Whether `submitter` may submit training data.
    function isSubmitter(address submitter) external view returns (bool);

    // ---------------------------------------------------------------------------------------------
    // Attestations
    // ---------------------------------------------------------------------------------------------

    /// @notice Set what a contribution's EAS attestations must satisfy. Timelock only.
    /// @param schemaUID The EAS schema the attestations must use.
    /// @param attesters The trusted attesters (distinct, non-zero).
    /// @param minAttestations How many distinct trusted attesters must attest (1..attesters.length).
    /// @param maxAge The oldest an attestation may be, in seconds (0: no limit).
    function setAttestationRequirement(
        bytes32 schemaUID,
        address[] calldata attesters,
        uint8 minAttestations,
        uint64 maxAge
    ) external;
    /// @notice The current attestation requirement.
    function attestationRequirement() external view returns (AttestationRequirement memory);
    /// @notice Whether `attester` is one of the trusted attesters of the current requirement.
    function isTrustedAttester(address attester) external view returns (bool);

    // ---------------------------------------------------------------------------------------------
    // Quotas, fees and epochs
    // ---------------------------------------------------------------------------------------------

    /// @notice Set how many queries `consumer` may make per epoch (0 removes it). Timelock only.
    function setQuota(address consumer, uint64 queriesPerEpoch) external;
    /// @notice How many queries the DAO voted `consumer` per epoch (see `quotaAt` for tiers).
    function quotaOf(address consumer) external view returns (uint64);
    /// @notice Set the fee a consumer pays per query, in wei. Timelock only.
    function setQueryFee(uint256 feePerQuery) external;
    /// @notice The fee a consumer pays per query, in wei.
    function feePerQuery() external view returns (uint256);
    /// @notice What UsageSettlement needs to settle `consumer`'s usage at `worker` in `epoch`, in
    /// one call: whether `worker` is authorised, `quotaAt(consumer, epoch)` and the fee per query.
    function settlementTerms(
        address consumer,
        address worker,
        uint64 epoch
    ) external view returns (bool isWorker, uint64 quota, uint256 feePerQuery);
    /// @notice The length of an epoch, in seconds. Fixed at deployment so that epoch numbers, and
    /// the reward pools and quotas keyed by them, never shift.
    function epochLength() external view returns (uint64);
    /// @notice When epoch 0 started (a timestamp).
    function epochGenesis() external view returns (uint64);
    /// @notice The epoch the current block is in.
    function currentEpoch() external view returns (uint64);
    /// @notice When `epoch` ends (the first second of the next epoch).
    function epochEnd(uint64 epoch) external view returns (uint64);

    // ---------------------------------------------------------------------------------------------
    // Access tiers
    // ---------------------------------------------------------------------------------------------

    /// @notice Set access tier `tierId` (a new tier takes id `tierCount()`). Timelock only.
    /// `queriesPerEpoch == 0` removes the tier: its members keep no quota from it.
    function setTier(
        uint8 tierId,
        uint64 queriesPerEpoch,
        uint128 pricePerEpoch,
        bool open,
        uint32 maxMembers
    ) external;
    /// @notice Tier `tierId` (all zero if never set).
    function tier(uint8 tierId) external view returns (Tier memory);
    /// @notice How many tier ids were ever set: ids 0 to `tierCount() - 1`.
    function tierCount() external view returns (uint8);
    /// @notice Join tier `tierId` for `epochs` epochs (1 to 12) from the current one, or renew a
    /// membership of it from where it ends. Send exactly `pricePerEpoch * epochs` wei; it goes to
    /// the DAO's treasury (the timelock). Joining needs the tier open and a free place in each
    /// epoch joined; a member of another tier cannot join until the epoch after that membership
    /// ends. Joining the tier a membership ended with, in the epoch it ended, continues it
    /// (`fromEpoch` is kept), so the last epoch's quota stays readable while it is settled.
    function joinTier(uint8 tierId, uint64 epochs) external payable;
    /// @notice `consumer`'s membership: tier `tierId` from `fromEpoch` until `untilEpoch`
    /// (exclusive); all zero if it never joined one.
    function membershipOf(address consumer) external view returns (uint8 tierId, uint64 fromEpoch, uint64 untilEpoch);
    /// @notice How many members tier `tierId` has in `epoch`.
    function tierMembers(uint8 tierId, uint64 epoch) external view returns (uint32);
    /// @notice `consumer`'s quota in `epoch`: a quota the DAO voted for it (non-zero) wins; else the
    /// queries per epoch of its tier if it is a member in `epoch`; else 0.
    function quotaAt(address consumer, uint64 epoch) external view returns (uint64);

    // ---------------------------------------------------------------------------------------------
    // Keyholder committee
    // ---------------------------------------------------------------------------------------------

    /// @notice Replace the keyholder committee. Timelock only. New submissions split their data
    /// key `threshold`-of-`members.length` and wrap one share to each member's key.
    /// @param members The keyholders' addresses (distinct, non-zero), which authenticate them.
    /// @param publicKeys Each member's encryption public key, in the same order: distinct 33-byte
    /// compressed secp256k1 points.
    /// @param threshold How many shares recover a data key.
    function setCommittee(address[] calldata members, bytes[] calldata publicKeys, uint8 threshold) external;
    /// @notice The current committee.
    /// @return committeeId Numbers committees from 1 (0: none set yet).
    /// @return members The keyholders.
    /// @return publicKeys Their encryption public keys.
    /// @return threshold How many shares recover a data key.
    function committee()
        external
        view
        returns (uint64 committeeId, address[] memory members, bytes[] memory publicKeys, uint8 threshold);

    // ---------------------------------------------------------------------------------------------
    // Training runs
    // ---------------------------------------------------------------------------------------------

    /// @notice Approve a training run. Timelock only.
    /// @param runId The run's id, chosen by the proposer.
    /// @param specHash Hash of what the run may read and how it trains.
    /// @param operator The authorised worker that runs it.
    /// @param expiresAt When the approval lapses.
    function approveTrainingRun(bytes32 runId, bytes32 specHash, address operator, uint64 expiresAt) external;
    /// @notice Withdraw a training run's approval. Timelock only.
    function revokeTrainingRun(bytes32 runId) external;
    /// @notice A training run, approved or not (a zero operator means it does not exist).
    function trainingRun(bytes32 runId) external view returns (TrainingRun memory);
    /// @notice Whether `runId` is approved now: approved, not revoked, not expired, its operator
    /// authorised without interruption since the approval, and the kill switch not engaged.
    function isTrainingRunApproved(bytes32 runId) external view returns (bool);

    // ---------------------------------------------------------------------------------------------
    // Workers and model publication
    // ---------------------------------------------------------------------------------------------

    /// @notice Authorise a worker, or remove it. Timelock only.
    function setWorker(address worker, bool authorised) external;
    /// @notice Whether `worker` is authorised.
    function isWorker(address worker) external view returns (bool);
    /// @notice Set how long after a model's commitment its weights may be revealed (at most 365
    /// days). Timelock only.
    function setRevealDelay(uint64 revealDelay) external;
    /// @notice How long after a model's commitment its weights may be revealed, in seconds.
    function revealDelay() external view returns (uint64);

    // ---------------------------------------------------------------------------------------------
    // Guardian and kill switch
    // ---------------------------------------------------------------------------------------------

    /// @notice Replace the guardian. Timelock only.
    function setGuardian(address guardian) external;
    /// @notice Who may engage the kill switch besides the timelock.
    function guardian() external view returns (address);
    /// @notice The timelock: the only account that may change policy.
    function timelock() external view returns (address);
    /// @notice Stop ingest, inference and training at once. Guardian or timelock. Each engagement
    /// gets the next engagement id. A timelock engagement executed late (after a lift) is a new
    /// engagement like any other: stopping is the safe direction, and lifting it takes a vote
    /// naming it (the guardian may also cancel such a stale proposal before it executes).
    /// @param reason Why, in words (1 to 280 bytes), shown to every user.
    function engageKillSwitch(string calldata reason) external;
    /// @notice Let the system run again. Timelock only: lifting takes a vote, and the vote names
    /// the engagement it lifts, so a stale lift proposal cannot lift a later engagement.
    /// @param engagementId The current engagement's id (`killSwitch().engagementId`).
    function liftKillSwitch(uint64 engagementId) external;
    /// @notice Whether the kill switch is engaged.
    function killSwitchEngaged() external view returns (bool);
    /// @notice The kill switch's state, with who engaged it, when and why.
    function killSwitch() external view returns (KillSwitch memory);

    /// @notice Increments with every change of policy; never decreases.
    function policyVersion() external view returns (uint256);
}
