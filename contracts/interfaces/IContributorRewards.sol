// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IContributorRewards
/// @notice Pays the people whose training data was accepted. An authorised worker records each
/// accepted contribution in the current epoch; the contract checks its EAS attestations against the
/// policy itself, so a worker cannot invent contributors. Each epoch's pool (query fees and
/// treasury grants) is shared pro rata to the contributions' weights, by pull-claims once the
/// epoch is over. A contribution's weight is the number of its records that the worker validated
/// at ingest and found in no earlier contribution (exact or near duplicates count nothing), so
/// padding, invalid lines and copies of the pool earn nothing; its size in bytes is only attested.
/// @dev Invariants: the total ever paid out never exceeds the total ever received; a contributor's
/// payout for an epoch never exceeds its pro-rata share of that epoch's pool.
interface IContributorRewards {
    /// @notice An EAS off-chain attestation (version 2, as the EAS SDK signs it), verified on chain:
    /// its EIP-712 signature in the EAS contract's domain, and its revocation on EAS.
    /// @dev Its UID is recomputed as the SDK does, from the schema UID's lowercase hex string.
    struct OffchainAttestation {
        address attester;
        bytes32 schema;
        address recipient;
        uint64 time;
        uint64 expirationTime;
        bool revocable;
        bytes32 refUID;
        bytes data;
        bytes32 salt;
        bytes signature;
    }

    /// @notice One contribution for `recordContributions`.
    /// @param contributor Who submitted the data (the attestations' recipient).
    /// @param dataHash SHA-256 of the plaintext data, as attested.
    /// @param size The data's size in bytes, as attested: at most 2^32 - 1 (4 GiB), as stored.
    /// @param weight The data's unique accepted records, as the worker counted them at ingest: the
    /// contribution's weight in its epoch. At least 1 and at most `size` (a record is longer than a byte).
    /// @param attestationUIDs On-chain EAS attestations of (dataHash, size) to the contributor.
    /// @param offchainAttestations Off-chain EAS attestations of the same, checked as strictly.
    struct ContributionInput {
        address contributor;
        bytes32 dataHash;
        uint64 size;
        uint64 weight;
        bytes32[] attestationUIDs;
        OffchainAttestation[] offchainAttestations;
    }

    /// @notice A recorded contribution.
    /// @param epoch The epoch it was recorded in: the only epoch pool it has a share of.
    /// @param size Its attested size in bytes.
    /// @param weight Its unique accepted records: its weight in its epoch.
    /// @param recordedAt When it was recorded (the block's timestamp).
    /// @param worker The worker that recorded it.
    /// @param voided Whether a vote voided it (poisoned data, say): it is never paid, its weight
    /// is gone from its epoch, and its data hash stays taken.
    /// @param withdrawnAt When its contributor withdrew it (0: not withdrawn). A withdrawn
    /// contribution is in no later training run; models already trained with it keep what they
    /// learned. Withdrawn while its epoch ran, its weight left that epoch (it earns nothing from the
    /// epoch's pool); withdrawn after, it keeps its share of its ended epoch. Unlike a voided one,
    /// it was not found bad, so payments for models that used it still reach it.
    struct Contribution {
        address contributor;
        uint64 epoch;
        uint64 size;
        uint64 weight;
        uint64 recordedAt;
        address worker;
        bool voided;
        uint64 withdrawnAt;
    }

    /// @notice A contribution was accepted and counts in `epoch`'s rewards with `weight` (its unique
    /// accepted records); `size` is its attested size in bytes.
    event ContributionRecorded(
        bytes32 indexed dataHash,
        address indexed contributor,
        uint64 indexed epoch,
        uint64 size,
        uint64 weight,
        address worker
    );
    /// @notice `amount` wei was added to `epoch`'s reward pool.
    event PoolFunded(uint64 indexed epoch, address indexed from, uint256 amount);
    /// @notice An epoch that ended with no contributions passed its pool on to a later epoch.
    event PoolRolledOver(uint64 indexed fromEpoch, uint64 indexed toEpoch, uint256 amount);
    /// @notice A vote voided the contribution of `dataHash`: its `weight` no longer counts in `epoch`,
    /// so its share of the pool goes to the epoch's other contributions.
    event ContributionVoided(
        bytes32 indexed dataHash,
        address indexed contributor,
        uint64 indexed epoch,
        uint64 weight
    );
    /// @notice The contributor withdrew the contribution of `dataHash`: no later training run uses it.
    /// `weightRemoved` is what left `epoch`'s pool shares (its weight if the epoch was not over, else 0).
    event ContributionWithdrawn(
        bytes32 indexed dataHash,
        address indexed contributor,
        uint64 indexed epoch,
        uint64 weightRemoved
    );
    /// @notice `contributor` was paid `amount` wei from `epoch`'s pool.
    event RewardClaimed(uint64 indexed epoch, address indexed contributor, uint256 amount);

    /// @notice The caller is not a worker the DAO authorised.
    error RewardsNotWorker(address caller);
    /// @notice The kill switch is engaged: no contribution or fee is taken in, and no reward is
    /// paid until a vote lifts it (so that poisoned data can be voided before it is paid).
    error RewardsKillSwitchEngaged();
    /// @notice The contributor is not on the submitter allowlist.
    error RewardsSubmitterNotAllowed(address contributor);
    /// @notice This data was already recorded; nobody is paid twice for the same data.
    error RewardsDuplicateContribution(bytes32 dataHash);
    /// @notice A contribution must have a non-zero hash, a size from 1 to 2^32 - 1 bytes, and a weight
    /// from 1 to its size: a contribution without a unique record earns nothing, so it is not
    /// recorded at all.
    error RewardsInvalidContribution(bytes32 dataHash, uint64 size, uint64 weight);
    /// @notice No attestation with this UID exists on EAS.
    error RewardsAttestationNotFound(bytes32 uid);
    /// @notice The attestation uses another schema than the policy requires.
    error RewardsAttestationWrongSchema(bytes32 uid, bytes32 schema, bytes32 required);
    /// @notice The attestation was made by an attester the policy does not trust.
    error RewardsAttestationUntrustedAttester(bytes32 uid, address attester);
    /// @notice The attestation was revoked.
    error RewardsAttestationRevoked(bytes32 uid, uint64 revokedAt);
    /// @notice The attestation has expired.
    error RewardsAttestationExpired(bytes32 uid, uint64 expiredAt);
    /// @notice The attestation is older than the policy's maximum age.
    error RewardsAttestationTooOld(bytes32 uid, uint64 attestedAt, uint64 maxAge);
    /// @notice The attestation is about someone else.
    error RewardsAttestationWrongRecipient(bytes32 uid, address recipient, address contributor);
    /// @notice The off-chain attestation's signature is not its attester's (or was made for another EAS or chain).
    error RewardsAttestationBadSignature(bytes32 uid, address attester);
    /// @notice The attestation is about other data (its hash or size differ).
    error RewardsAttestationWrongData(bytes32 uid);
    /// @notice The DAO has not set an attestation requirement yet, so no contribution can be checked.
    error RewardsNoAttestationRequirement();
    /// @notice Fewer distinct trusted attesters attested than the policy requires.
    error RewardsInsufficientAttestations(uint256 distinctAttesters, uint256 required);
    /// @notice The epoch is not over yet, so its shares are not final.
    error RewardsEpochNotOver(uint64 epoch, uint64 currentEpoch);
    /// @notice The epoch had contributions, so its pool belongs to them.
    error RewardsEpochHasContributions(uint64 epoch);
    /// @notice There is nothing (left) to claim for this contributor and epoch.
    error RewardsNothingToClaim(uint64 epoch, address contributor);
    /// @notice Funding must be more than zero.
    error RewardsZeroAmount();
    /// @notice Only the timelock (a passed proposal) may void a contribution.
    error RewardsNotTimelock(address caller, address timelock);
    /// @notice No contribution was recorded for this data hash.
    error RewardsUnknownContribution(bytes32 dataHash);
    /// @notice This contribution was already voided.
    error RewardsContributionVoided(bytes32 dataHash);
    /// @notice The contributor already claimed from this contribution's epoch: what was paid cannot
    /// be taken back, so the contribution can no longer be voided.
    error RewardsContributionClaimed(bytes32 dataHash, uint64 epoch);
    /// @notice Only the contribution's contributor may withdraw it.
    error RewardsNotContributor(bytes32 dataHash, address caller, address contributor);
    /// @notice This contribution was already withdrawn, at `withdrawnAt`.
    error RewardsContributionWithdrawn(bytes32 dataHash, uint64 withdrawnAt);
    /// @notice Sending `amount` wei to `to` failed.
    error RewardsTransferFailed(address to, uint256 amount);

    /// @notice Record one accepted contribution in the current epoch, weighing `weight` (its unique
    /// accepted records, see {ContributionInput}). Authorised workers only.
    function recordContribution(
        address contributor,
        bytes32 dataHash,
        uint64 size,
        uint64 weight,
        bytes32[] calldata attestationUIDs
    ) external;
    /// @notice Record several contributions in one transaction. Authorised workers only.
    function recordContributions(ContributionInput[] calldata contributions) external;
    /// @notice The recorded contribution for `dataHash` (a zero contributor: none).
    function contributionOf(bytes32 dataHash) external view returns (Contribution memory);
    /// @notice Void a contribution whose contributor has not claimed from its epoch yet (poisoned
    /// data, say). Timelock only. It is never paid; the epoch's pool is shared by its other
    /// contributions (or rolls over if none is left), so nothing is lost and no more is paid out
    /// than was received. The epoch's earlier claimants can claim the difference.
    function voidContribution(bytes32 dataHash) external;
    /// @notice Withdraw the caller's contribution of `dataHash`: no later training run includes it,
    /// keyholders release no more of its key shares, and workers unpin its ciphertext. Models
    /// already trained with it keep what they learned, and keep paying it for that (see
    /// {Contribution}). Its contributor only, once; allowed while the kill switch is engaged.
    function withdrawContribution(bytes32 dataHash) external;

    /// @notice Add the sent value to `epoch`'s pool. The treasury does this through proposals, and
    /// the usage settlement contract with the query fees it collects.
    function fund(uint64 epoch) external payable;
    /// @notice Move the pool of an ended epoch that had no contributions to the current epoch.
    function rollOver(uint64 epoch) external;

    /// @notice Pay the caller its share of `epoch`'s pool (what is left of it after earlier claims).
    /// Refused while the kill switch is engaged.
    function claim(uint64 epoch) external returns (uint256 amount);
    /// @notice Pay the caller its share of several epochs.
    function claimMany(uint64[] calldata epochs) external returns (uint256 amount);
    /// @notice What `contributor` can claim for `epoch` now.
    function claimable(uint64 epoch, address contributor) external view returns (uint256);

    /// @notice An epoch's pool, total weight (the unique accepted records of its unvoided
    /// contributions), and what has been paid from it.
    function epochTotals(uint64 epoch) external view returns (uint256 pool, uint256 totalWeight, uint256 paid);
    /// @notice A contributor's weight in an epoch (its unique accepted records there) and what it has claimed.
    function shareOf(uint64 epoch, address contributor) external view returns (uint256 weight, uint256 claimed);
    /// @notice Everything ever received and ever paid out.
    function totals() external view returns (uint256 received, uint256 paidOut);
}
