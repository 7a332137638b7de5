// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IEAS} from "@ethereum-attestation-service/eas-contracts/contracts/IEAS.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IContributorRewards} from "../interfaces/IContributorRewards.sol";
import {IPolicyRegistry} from "../interfaces/IPolicyRegistry.sol";

/// @dev EAS's `version()` (from its Semver base), part of its off-chain attestations' EIP-712 domain.
interface ISemverVersion {
    function version() external view returns (string memory);
}

/// @title ContributorRewards
/// @notice Records accepted contributions, checked against EAS and the policy, and pays
/// contributors pro rata from each epoch's pool. See {IContributorRewards}.
/// @dev The attestation schema's first two fields are `bytes32 dataHash` and `uint64 size`; both
/// are static ABI types, so they are the first two 32-byte words of the attestation's data and
/// are read without decoding the rest of the schema.
contract ContributorRewards is IContributorRewards, ReentrancyGuard {
    /// @dev EAS's EIP-712 type for version-2 off-chain attestations (the EAS SDK's `Attest`).
    bytes32 private constant _OFFCHAIN_ATTEST_TYPEHASH = keccak256(
        "Attest(uint16 version,bytes32 schema,address recipient,uint64 time,uint64 expirationTime,bool revocable,bytes32 refUID,bytes data,bytes32 salt)"
    );
    bytes32 private constant _DOMAIN_TYPEHASH = keccak256(
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    );
    uint16 private constant _OFFCHAIN_VERSION = 2;

    IPolicyRegistry public immutable policy;
    IEAS public immutable eas;
    /// @dev keccak256 of EAS's version string, part of its off-chain domain; EAS cannot change it.
    bytes32 private immutable _easVersionHash;

    /// @dev The fields every attestation is checked on, whichever way it was made. Of its data,
    /// only the first two words are kept (see the contract's notes).
    struct AttestationFacts {
        bytes32 uid;
        bytes32 schema;
        address attester;
        address recipient;
        uint64 time;
        uint64 expirationTime;
        uint64 revokedAt;
        uint256 dataLength;
        bytes32 dataHash;
        uint256 size;
    }

    struct EpochTotals {
        uint256 pool;
        /// @dev Invariant: the sum of the weights of the epoch's recorded contributions that count
        /// (neither voided nor withdrawn before the epoch ended).
        uint256 totalWeight;
        uint256 paid;
    }

    struct Share {
        uint256 weight;
        uint256 claimed;
    }

    /// @dev A recorded contribution in one storage slot, the only slot each contribution creates
    /// when it is recorded (a new slot is 22,100 gas, the largest part of recording): what is the
    /// same for a whole batch (epoch, time, worker) is in its batch's slot.
    struct StoredContribution {
        address contributor;
        uint32 batch;
        uint32 size;
        uint32 weight;
    }

    /// @dev What a batch of contributions shares, written once per `recordContributions`.
    struct Batch {
        address worker;
        uint64 epoch;
        uint32 recordedAt;
    }

    /// @dev What happened to a contribution after it was recorded; written only when it happens.
    struct Exit {
        uint64 withdrawnAt;
        bool voided;
        /// @dev Its weight was taken out of its epoch (voided, or withdrawn before its epoch ended).
        bool uncounted;
    }

    /// @dev The batch being recorded, the policy it is checked against, and the current item.
    struct Recording {
        uint32 batch;
        uint64 epoch;
        IPolicyRegistry.AttestationRequirement requirement;
        /// @dev The last attester found trusted in this transaction, so that a batch of one
        /// attester's attestations asks the registry once.
        address trustedAttester;
        /// @dev Where free memory began before the current item's checks.
        uint256 freeMemory;
        /// @dev The item being recorded.
        address contributor;
        bytes32 dataHash;
        uint64 size;
        uint64 weight;
    }

    mapping(bytes32 dataHash => StoredContribution) private _contributions;
    mapping(uint32 batch => Batch) private _batches;
    mapping(bytes32 dataHash => Exit) private _exits;
    /// @dev Batches are numbered from 1, so a zero batch in a contribution means none.
    uint32 private _batchCount;
    /// @dev Invariant: for every epoch, `paid <= pool`, and `paid` is the sum of its shares' `claimed`.
    mapping(uint64 epoch => EpochTotals) private _epochs;
    /// @dev Invariant: `claimed <= pool * weight / totalWeight` of its epoch (rounded down), so the
    /// sum of claims never exceeds the pool.
    mapping(uint64 epoch => mapping(address contributor => Share)) private _shares;

    /// @dev Invariant: `_paidOut <= _received`, and their difference is this contract's balance
    /// (ether sent without `fund`, by selfdestruct for instance, is not counted and never paid).
    uint256 private _received;
    uint256 private _paidOut;

    /// @param policy_ The PolicyRegistry holding the allowlist, attestation requirement and workers.
    /// @param eas_ The EAS contract attestations live on.
    constructor(IPolicyRegistry policy_, IEAS eas_) {
        policy = policy_;
        eas = eas_;
        _easVersionHash = keccak256(bytes(_easVersion(address(eas_))));
    }

    function _easVersion(address eas_) private view returns (string memory) {
        return ISemverVersion(eas_).version();
    }

    // ---------------------------------------------------------------------------------------------
    // Recording contributions
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IContributorRewards
    function recordContribution(
        address contributor,
        bytes32 dataHash,
        uint64 size,
        uint64 weight,
        bytes32[] calldata attestationUIDs
    ) external {
        Recording memory r = _beforeRecording();
        _openBatch(r);
        _checkSubmitter(contributor);
        (r.contributor, r.dataHash, r.size, r.weight) = (contributor, dataHash, size, weight);
        _record(r, attestationUIDs, _noOffchainAttestations());
        _shares[r.epoch][contributor].weight += weight;
        _epochs[r.epoch].totalWeight += weight;
    }

    /// @inheritdoc IContributorRewards
    /// @dev The epoch's total weight is written once per batch, and a contributor's share once per
    /// run of its consecutive contributions (the worker sends a contributor's submissions together),
    /// whose allowlist entry is also read once.
    function recordContributions(ContributionInput[] calldata contributions) external {
        Recording memory r = _beforeRecording();
        if (contributions.length == 0) return;
        _openBatch(r);
        address runContributor = address(0);
        uint256 runWeight = 0;
        uint256 batchWeight = 0;
        for (uint256 i = 0; i < contributions.length; ++i) {
            ContributionInput calldata c = contributions[i];
            if (c.contributor != runContributor) {
                if (runWeight != 0) _shares[r.epoch][runContributor].weight += runWeight;
                _checkSubmitter(c.contributor);
                runContributor = c.contributor;
                runWeight = 0;
            }
            (r.contributor, r.dataHash, r.size, r.weight) = (c.contributor, c.dataHash, c.size, c.weight);
            _record(r, c.attestationUIDs, c.offchainAttestations);
            runWeight += c.weight;
            batchWeight += c.weight;
        }
        _shares[r.epoch][runContributor].weight += runWeight;
        _epochs[r.epoch].totalWeight += batchWeight;
    }

    /// @inheritdoc IContributorRewards
    function contributionOf(bytes32 dataHash) external view returns (Contribution memory c) {
        StoredContribution memory stored = _contributions[dataHash];
        if (stored.contributor == address(0)) return c;
        Batch memory batch = _batches[stored.batch];
        Exit memory exit = _exits[dataHash];
        return
            Contribution(
                stored.contributor,
                batch.epoch,
                stored.size,
                stored.weight,
                batch.recordedAt,
                batch.worker,
                exit.voided,
                exit.withdrawnAt
            );
    }

    /// @inheritdoc IContributorRewards
    /// @dev Only an unclaimed share may shrink: every other share only grows when the epoch's total
    /// weight falls, so `claimed <= pool * weight / totalWeight` holds for all of them after.
    function voidContribution(bytes32 dataHash) external {
        address timelock = policy.timelock();
        if (msg.sender != timelock) revert RewardsNotTimelock(msg.sender, timelock);
        StoredContribution memory c = _contributions[dataHash];
        if (c.contributor == address(0)) revert RewardsUnknownContribution(dataHash);
        Exit storage exit = _exits[dataHash];
        if (exit.voided) revert RewardsContributionVoided(dataHash);
        uint64 epoch = _batches[c.batch].epoch;
        // Withdrawn before its epoch ended, it already weighs nothing there: only the mark is left.
        if (!exit.uncounted) {
            if (_shares[epoch][c.contributor].claimed != 0) revert RewardsContributionClaimed(dataHash, epoch);
            _uncount(epoch, c.contributor, c.weight);
            exit.uncounted = true;
        }
        exit.voided = true;
        emit ContributionVoided(dataHash, c.contributor, epoch, c.weight);
    }

    /// @inheritdoc IContributorRewards
    /// @dev Withdrawn while its epoch runs, its weight leaves the epoch as a voided one does (nobody
    /// can have claimed from an epoch that is not over). Withdrawn later, it keeps the share it
    /// earned in its ended epoch: that is what its data was worth while it was offered.
    function withdrawContribution(bytes32 dataHash) external {
        StoredContribution memory c = _contributions[dataHash];
        if (c.contributor == address(0)) revert RewardsUnknownContribution(dataHash);
        if (msg.sender != c.contributor) revert RewardsNotContributor(dataHash, msg.sender, c.contributor);
        Exit storage exit = _exits[dataHash];
        if (exit.withdrawnAt != 0) revert RewardsContributionWithdrawn(dataHash, exit.withdrawnAt);
        uint64 epoch = _batches[c.batch].epoch;
        uint64 weightRemoved = 0;
        if (!exit.uncounted && epoch >= policy.currentEpoch()) {
            _uncount(epoch, c.contributor, c.weight);
            exit.uncounted = true;
            weightRemoved = c.weight;
        }
        exit.withdrawnAt = uint64(block.timestamp);
        emit ContributionWithdrawn(dataHash, c.contributor, epoch, weightRemoved);
    }

    function _uncount(uint64 epoch, address contributor, uint64 weight) private {
        _shares[epoch][contributor].weight -= weight;
        _epochs[epoch].totalWeight -= weight;
    }

    /// @dev Checks shared by a whole batch, and the policy it is checked against, read once.
    function _beforeRecording() private view returns (Recording memory r) {
        if (!policy.isWorker(msg.sender)) revert RewardsNotWorker(msg.sender);
        if (policy.killSwitchEngaged()) revert RewardsKillSwitchEngaged();
        r.requirement = policy.attestationRequirement();
        // The registry never stores a zero minimum, so zero means "never set": fail closed.
        if (r.requirement.minAttestations == 0) revert RewardsNoAttestationRequirement();
        r.epoch = policy.currentEpoch();
    }

    /// @dev Writes what the batch's contributions share: once per batch, not per contribution.
    function _openBatch(Recording memory r) private {
        r.batch = ++_batchCount;
        _batches[r.batch] = Batch(msg.sender, r.epoch, uint32(block.timestamp));
    }

    function _checkSubmitter(address contributor) private view {
        if (!policy.isSubmitter(contributor)) revert RewardsSubmitterNotAllowed(contributor);
    }

    /// @dev Records the item `r` holds.
    function _record(Recording memory r, bytes32[] calldata uids, OffchainAttestation[] calldata offchain) private {
        bytes32 dataHash = r.dataHash;
        uint64 size = r.size;
        uint64 weight = r.weight;
        // The weight is the worker's count of unique valid records; the contract cannot see the
        // data, but it can refuse a count no data of this size could have (every record is more
        // than a byte), which bounds what a faulty worker can claim for one contribution.
        if (dataHash == bytes32(0) || size == 0 || weight == 0 || weight > size || size > type(uint32).max) {
            revert RewardsInvalidContribution(dataHash, size, weight);
        }
        if (_contributions[dataHash].contributor != address(0)) revert RewardsDuplicateContribution(dataHash);
        // Nothing the checks allocate outlives them: giving their memory back keeps a large
        // batch's memory (whose cost grows with the square of its size) to one item's.
        r.freeMemory = _freeMemoryPointer();
        _checkAttestations(r, uids, offchain);
        _setFreeMemoryPointer(r.freeMemory);
        _contributions[dataHash] = StoredContribution(r.contributor, r.batch, uint32(size), uint32(weight));
        emit ContributionRecorded(dataHash, r.contributor, r.epoch, size, weight, msg.sender);
    }

    /// @dev Every attestation given must be valid (a bad one is an error, not ignored, so a worker
    /// learns of it), and enough distinct trusted attesters must be among them.
    function _checkAttestations(
        Recording memory r,
        bytes32[] calldata uids,
        OffchainAttestation[] calldata offchain
    ) private view {
        address[] memory seen = new address[](uids.length + offchain.length);
        uint256 distinct = 0;
        for (uint256 i = 0; i < seen.length; ++i) {
            AttestationFacts memory facts =
                i < uids.length ? _onchainFacts(uids[i]) : _offchainFacts(offchain[i - uids.length]);
            _checkFacts(facts, r);
            bool counted = false;
            for (uint256 j = 0; j < distinct; ++j) {
                if (seen[j] == facts.attester) {
                    counted = true;
                    break;
                }
            }
            if (!counted) seen[distinct++] = facts.attester;
        }
        if (distinct < r.requirement.minAttestations) {
            revert RewardsInsufficientAttestations(distinct, r.requirement.minAttestations);
        }
    }

    /// @dev Reads the fields checked from `getAttestation`'s return data instead of decoding it:
    /// decoding copies the whole attestation, its data included (licence, provenance...), into
    /// memory for every contribution, and only two words of the data are checked. EAS's own
    /// reads (about 34,000 gas for the deployment's schema, one cold slot per 32 bytes of data)
    /// are the same either way. The return data is the ABI encoding of one `Attestation`: an
    /// offset word, then the tuple's head (uid, schema, time, expirationTime, revocationTime,
    /// refUID, recipient, attester, revocable, the data's offset), then the data.
    function _onchainFacts(bytes32 uid) private view returns (AttestationFacts memory f) {
        address eas_ = address(eas);
        bytes4 selector = IEAS.getAttestation.selector;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, selector)
            mstore(add(ptr, 4), uid)
            if iszero(staticcall(gas(), eas_, ptr, 36, 0, 0)) {
                returndatacopy(ptr, 0, returndatasize())
                revert(ptr, returndatasize())
            }
            // returndatacopy reverts on reading past the return data, so a short answer fails.
            returndatacopy(ptr, 0, 0x20)
            let tuple := mload(ptr)
            returndatacopy(ptr, tuple, 0x140)
            mstore(f, mload(ptr))
            mstore(add(f, 0x20), mload(add(ptr, 0x20)))
            mstore(add(f, 0x40), mload(add(ptr, 0xe0)))
            mstore(add(f, 0x60), mload(add(ptr, 0xc0)))
            mstore(add(f, 0x80), mload(add(ptr, 0x40)))
            mstore(add(f, 0xa0), mload(add(ptr, 0x60)))
            mstore(add(f, 0xc0), mload(add(ptr, 0x80)))
            let data := add(tuple, mload(add(ptr, 0x120)))
            returndatacopy(ptr, data, 0x20)
            let length := mload(ptr)
            mstore(add(f, 0xe0), length)
            if iszero(lt(length, 64)) {
                returndatacopy(ptr, add(data, 0x20), 0x40)
                mstore(add(f, 0x100), mload(ptr))
                mstore(add(f, 0x120), mload(add(ptr, 0x20)))
            }
        }
        if (f.uid == bytes32(0)) revert RewardsAttestationNotFound(uid);
    }

    /// @dev Verifies the attester's EIP-712 signature in EAS's off-chain domain (ECDSA refuses
    /// malleable signatures; ERC-1271 attesters are supported) and reads its revocation from EAS.
    function _offchainFacts(OffchainAttestation calldata a) private view returns (AttestationFacts memory) {
        bytes32 uid = keccak256(
            abi.encodePacked(
                _OFFCHAIN_VERSION,
                bytes(Strings.toHexString(uint256(a.schema), 32)),
                a.recipient,
                address(0),
                a.time,
                a.expirationTime,
                a.revocable,
                a.refUID,
                a.data,
                a.salt,
                uint32(0)
            )
        );
        bytes32 digest = _offchainDigest(a);
        if (!SignatureChecker.isValidSignatureNow(a.attester, digest, a.signature)) {
            revert RewardsAttestationBadSignature(uid, a.attester);
        }
        uint64 revokedAt = eas.getRevokeOffchain(a.attester, uid);
        bytes calldata data = a.data;
        (bytes32 attestedHash, uint256 attestedSize) = data.length < 64
            ? (bytes32(0), 0)
            : (bytes32(data[0:32]), uint256(bytes32(data[32:64])));
        return
            AttestationFacts(
                uid,
                a.schema,
                a.attester,
                a.recipient,
                a.time,
                a.expirationTime,
                revokedAt,
                data.length,
                attestedHash,
                attestedSize
            );
    }

    /// @dev The EIP-712 digest the attester signed, in EAS's off-chain domain.
    function _offchainDigest(OffchainAttestation calldata a) private view returns (bytes32) {
        bytes32 domainSeparator = keccak256(
            abi.encode(_DOMAIN_TYPEHASH, keccak256("EAS Attestation"), _easVersionHash, block.chainid, address(eas))
        );
        bytes32 structHash = keccak256(
            abi.encode(
                _OFFCHAIN_ATTEST_TYPEHASH,
                _OFFCHAIN_VERSION,
                a.schema,
                a.recipient,
                a.time,
                a.expirationTime,
                a.revocable,
                a.refUID,
                keccak256(a.data),
                a.salt
            )
        );
        return MessageHashUtils.toTypedDataHash(domainSeparator, structHash);
    }

    function _checkFacts(AttestationFacts memory a, Recording memory r) private view {
        IPolicyRegistry.AttestationRequirement memory requirement = r.requirement;
        bytes32 uid = a.uid;
        if (a.schema != requirement.schemaUID) {
            revert RewardsAttestationWrongSchema(uid, a.schema, requirement.schemaUID);
        }
        if (a.attester != r.trustedAttester) {
            if (!policy.isTrustedAttester(a.attester)) revert RewardsAttestationUntrustedAttester(uid, a.attester);
            r.trustedAttester = a.attester;
        }
        if (a.revokedAt != 0) revert RewardsAttestationRevoked(uid, a.revokedAt);
        if (a.expirationTime != 0 && a.expirationTime <= block.timestamp) {
            revert RewardsAttestationExpired(uid, a.expirationTime);
        }
        // An off-chain attestation's time is the attester's claim: one from the future is too old to trust.
        if (a.time > block.timestamp) revert RewardsAttestationTooOld(uid, a.time, requirement.maxAge);
        if (requirement.maxAge != 0 && block.timestamp - a.time > requirement.maxAge) {
            revert RewardsAttestationTooOld(uid, a.time, requirement.maxAge);
        }
        if (a.recipient != r.contributor) revert RewardsAttestationWrongRecipient(uid, a.recipient, r.contributor);
        if (a.dataLength < 64 || a.dataHash != r.dataHash || a.size != r.size) revert RewardsAttestationWrongData(uid);
    }

    function _freeMemoryPointer() private pure returns (uint256 pointer) {
        assembly ("memory-safe") {
            pointer := mload(0x40)
        }
    }

    function _setFreeMemoryPointer(uint256 pointer) private pure {
        assembly ("memory-safe") {
            mstore(0x40, pointer)
        }
    }

    /// @dev An empty calldata array, so that checks read attestations from calldata without the
    /// copy to memory a batch's items would otherwise each pay for.
    function _noOffchainAttestations() private pure returns (OffchainAttestation[] calldata none) {
        assembly {
            none.offset := 0
            none.length := 0
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Funding
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IContributorRewards
    /// @dev Funding a past epoch is allowed: its contributors' shares grow, and those who already
    /// claimed can claim the difference. Funding works while the kill switch is engaged, so the
    /// treasury can still pay for data already accepted; fee settlement is what stops.
    function fund(uint64 epoch) external payable {
        if (msg.value == 0) revert RewardsZeroAmount();
        _epochs[epoch].pool += msg.value;
        _received += msg.value;
        emit PoolFunded(epoch, msg.sender, msg.value);
    }

    /// @inheritdoc IContributorRewards
    function rollOver(uint64 epoch) external {
        uint64 current = policy.currentEpoch();
        if (epoch >= current) revert RewardsEpochNotOver(epoch, current);
        EpochTotals storage from = _epochs[epoch];
        if (from.totalWeight != 0) revert RewardsEpochHasContributions(epoch);
        uint256 amount = from.pool;
        if (amount == 0) revert RewardsZeroAmount();
        from.pool = 0;
        _epochs[current].pool += amount;
        emit PoolRolledOver(epoch, current, amount);
    }

    // ---------------------------------------------------------------------------------------------
    // Claims
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IContributorRewards
    function claim(uint64 epoch) external nonReentrant returns (uint256 amount) {
        _beforeClaiming();
        amount = _settleClaim(epoch, msg.sender);
        if (amount == 0) revert RewardsNothingToClaim(epoch, msg.sender);
        _pay(msg.sender, amount);
    }

    /// @inheritdoc IContributorRewards
    function claimMany(uint64[] calldata epochs) external nonReentrant returns (uint256 amount) {
        _beforeClaiming();
        for (uint256 i = 0; i < epochs.length; ++i) {
            amount += _settleClaim(epochs[i], msg.sender);
        }
        if (amount == 0) revert RewardsNothingToClaim(epochs.length == 0 ? 0 : epochs[0], msg.sender);
        _pay(msg.sender, amount);
    }

    /// @inheritdoc IContributorRewards
    function claimable(uint64 epoch, address contributor) public view returns (uint256) {
        if (epoch >= policy.currentEpoch()) return 0;
        EpochTotals storage totals_ = _epochs[epoch];
        Share storage share = _shares[epoch][contributor];
        if (share.weight == 0) return 0;
        return Math.mulDiv(totals_.pool, share.weight, totals_.totalWeight) - share.claimed;
    }

    /// @dev Claims wait while the kill switch is engaged: poisoned data is usually found after its
    /// epoch ended, and without this its contributor would be paid before a vote could void it.
    function _beforeClaiming() private view {
        if (policy.killSwitchEngaged()) revert RewardsKillSwitchEngaged();
    }

    /// @dev Effects before the transfer (checks-effects-interactions), on top of the reentrancy guard.
    function _settleClaim(uint64 epoch, address contributor) private returns (uint256 amount) {
        uint64 current = policy.currentEpoch();
        if (epoch >= current) revert RewardsEpochNotOver(epoch, current);
        amount = claimable(epoch, contributor);
        if (amount == 0) return 0;
        _shares[epoch][contributor].claimed += amount;
        _epochs[epoch].paid += amount;
        _paidOut += amount;
        emit RewardClaimed(epoch, contributor, amount);
    }

    function _pay(address to, uint256 amount) private {
        (bool ok, ) = to.call{value: amount}("");
        if (!ok) revert RewardsTransferFailed(to, amount);
    }

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IContributorRewards
    function epochTotals(uint64 epoch) external view returns (uint256 pool, uint256 totalWeight, uint256 paid) {
        EpochTotals storage e = _epochs[epoch];
        return (e.pool, e.totalWeight, e.paid);
    }

    /// @inheritdoc IContributorRewards
    function shareOf(uint64 epoch, address contributor) external view returns (uint256 weight, uint256 claimed) {
        Share storage s = _shares[epoch][contributor];
        return (s.weight, s.claimed);
    }

    /// @inheritdoc IContributorRewards
    function totals() external view returns (uint256 received, uint256 paidOut) {
        return (_received, _paidOut);
    }
}
