// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IEAS} from "@ethereum-attestation-service/eas-contracts/contracts/IEAS.sol";
import {Attestation} from "@ethereum-attestation-service/eas-contracts/contracts/Common.sol";
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

    /// @dev The fields every attestation is checked on, whichever way it was made.
    struct AttestationFacts {
        bytes32 uid;
        bytes32 schema;
        address attester;
        address recipient;
        uint64 time;
        uint64 expirationTime;
        uint64 revokedAt;
        bytes data;
    }

    struct EpochTotals {
        uint256 pool;
        /// @dev Invariant: the sum of the weights of the epoch's recorded, unvoided contributions.
        uint256 totalWeight;
        uint256 paid;
    }

    struct Share {
        uint256 weight;
        uint256 claimed;
    }

    mapping(bytes32 dataHash => Contribution) private _contributions;
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
        (uint64 epoch, IPolicyRegistry.AttestationRequirement memory requirement) = _beforeRecording();
        _record(contributor, dataHash, size, weight, attestationUIDs, new OffchainAttestation[](0), epoch, requirement);
    }

    /// @inheritdoc IContributorRewards
    function recordContributions(ContributionInput[] calldata contributions) external {
        (uint64 epoch, IPolicyRegistry.AttestationRequirement memory requirement) = _beforeRecording();
        for (uint256 i = 0; i < contributions.length; ++i) {
            ContributionInput calldata c = contributions[i];
            _record(
                c.contributor,
                c.dataHash,
                c.size,
                c.weight,
                c.attestationUIDs,
                c.offchainAttestations,
                epoch,
                requirement
            );
        }
    }

    /// @inheritdoc IContributorRewards
    function contributionOf(bytes32 dataHash) external view returns (Contribution memory) {
        return _contributions[dataHash];
    }

    /// @inheritdoc IContributorRewards
    /// @dev Only an unclaimed share may shrink: every other share only grows when the epoch's total
    /// weight falls, so `claimed <= pool * weight / totalWeight` holds for all of them after.
    function voidContribution(bytes32 dataHash) external {
        address timelock = policy.timelock();
        if (msg.sender != timelock) revert RewardsNotTimelock(msg.sender, timelock);
        Contribution storage c = _contributions[dataHash];
        if (c.contributor == address(0)) revert RewardsUnknownContribution(dataHash);
        if (c.voided) revert RewardsContributionVoided(dataHash);
        uint64 epoch = c.epoch;
        Share storage share = _shares[epoch][c.contributor];
        if (share.claimed != 0) revert RewardsContributionClaimed(dataHash, epoch);
        c.voided = true;
        share.weight -= c.weight;
        _epochs[epoch].totalWeight -= c.weight;
        emit ContributionVoided(dataHash, c.contributor, epoch, c.weight);
    }

    /// @dev Checks shared by a whole batch, and the policy it is checked against, read once.
    function _beforeRecording()
        private
        view
        returns (uint64 epoch, IPolicyRegistry.AttestationRequirement memory requirement)
    {
        if (!policy.isWorker(msg.sender)) revert RewardsNotWorker(msg.sender);
        if (policy.killSwitchEngaged()) revert RewardsKillSwitchEngaged();
        requirement = policy.attestationRequirement();
        // The registry never stores a zero minimum, so zero means "never set": fail closed.
        if (requirement.minAttestations == 0) revert RewardsNoAttestationRequirement();
        return (policy.currentEpoch(), requirement);
    }

    function _record(
        address contributor,
        bytes32 dataHash,
        uint64 size,
        uint64 weight,
        bytes32[] calldata uids,
        OffchainAttestation[] memory offchain,
        uint64 epoch,
        IPolicyRegistry.AttestationRequirement memory requirement
    ) private {
        // The weight is the worker's count of unique valid records; the contract cannot see the
        // data, but it can refuse a count no data of this size could have (every record is more
        // than a byte), which bounds what a faulty worker can claim for one contribution.
        if (dataHash == bytes32(0) || size == 0 || weight == 0 || weight > size) {
            revert RewardsInvalidContribution(dataHash, size, weight);
        }
        if (_contributions[dataHash].contributor != address(0)) revert RewardsDuplicateContribution(dataHash);
        if (!policy.isSubmitter(contributor)) revert RewardsSubmitterNotAllowed(contributor);
        _checkAttestations(contributor, dataHash, size, uids, offchain, requirement);

        _contributions[dataHash] = Contribution(
            contributor,
            epoch,
            size,
            weight,
            uint64(block.timestamp),
            msg.sender,
            false
        );
        _epochs[epoch].totalWeight += weight;
        _shares[epoch][contributor].weight += weight;
        emit ContributionRecorded(dataHash, contributor, epoch, size, weight, msg.sender);
    }

    /// @dev Every attestation given must be valid (a bad one is an error, not ignored, so a worker
    /// learns of it), and enough distinct trusted attesters must be among them.
    function _checkAttestations(
        address contributor,
        bytes32 dataHash,
        uint64 size,
        bytes32[] calldata uids,
        OffchainAttestation[] memory offchain,
        IPolicyRegistry.AttestationRequirement memory requirement
    ) private view {
        address[] memory seen = new address[](uids.length + offchain.length);
        uint256 distinct = 0;
        for (uint256 i = 0; i < seen.length; ++i) {
            AttestationFacts memory facts =
                i < uids.length ? _onchainFacts(uids[i]) : _offchainFacts(offchain[i - uids.length]);
            _checkFacts(facts, contributor, dataHash, size, requirement);
            bool counted = false;
            for (uint256 j = 0; j < distinct; ++j) {
                if (seen[j] == facts.attester) {
                    counted = true;
                    break;
                }
            }
            if (!counted) seen[distinct++] = facts.attester;
        }
        if (distinct < requirement.minAttestations) {
            revert RewardsInsufficientAttestations(distinct, requirement.minAttestations);
        }
    }

    function _onchainFacts(bytes32 uid) private view returns (AttestationFacts memory) {
        Attestation memory a = eas.getAttestation(uid);
        if (a.uid == bytes32(0)) revert RewardsAttestationNotFound(uid);
        return
            AttestationFacts(
                uid,
                a.schema,
                a.attester,
                a.recipient,
                a.time,
                a.expirationTime,
                a.revocationTime,
                a.data
            );
    }

    /// @dev Verifies the attester's EIP-712 signature in EAS's off-chain domain (ECDSA refuses
    /// malleable signatures; ERC-1271 attesters are supported) and reads its revocation from EAS.
    function _offchainFacts(OffchainAttestation memory a) private view returns (AttestationFacts memory) {
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
        bytes32 digest = MessageHashUtils.toTypedDataHash(domainSeparator, structHash);
        if (!SignatureChecker.isValidSignatureNow(a.attester, digest, a.signature)) {
            revert RewardsAttestationBadSignature(uid, a.attester);
        }
        uint64 revokedAt = eas.getRevokeOffchain(a.attester, uid);
        return AttestationFacts(uid, a.schema, a.attester, a.recipient, a.time, a.expirationTime, revokedAt, a.data);
    }

    function _checkFacts(
        AttestationFacts memory a,
        address contributor,
        bytes32 dataHash,
        uint64 size,
        IPolicyRegistry.AttestationRequirement memory requirement
    ) private view {
        bytes32 uid = a.uid;
        if (a.schema != requirement.schemaUID) {
            revert RewardsAttestationWrongSchema(uid, a.schema, requirement.schemaUID);
        }
        if (!policy.isTrustedAttester(a.attester)) revert RewardsAttestationUntrustedAttester(uid, a.attester);
        if (a.revokedAt != 0) revert RewardsAttestationRevoked(uid, a.revokedAt);
        if (a.expirationTime != 0 && a.expirationTime <= block.timestamp) {
            revert RewardsAttestationExpired(uid, a.expirationTime);
        }
        // An off-chain attestation's time is the attester's claim: one from the future is too old to trust.
        if (a.time > block.timestamp) revert RewardsAttestationTooOld(uid, a.time, requirement.maxAge);
        if (requirement.maxAge != 0 && block.timestamp - a.time > requirement.maxAge) {
            revert RewardsAttestationTooOld(uid, a.time, requirement.maxAge);
        }
        if (a.recipient != contributor) revert RewardsAttestationWrongRecipient(uid, a.recipient, contributor);
        if (a.data.length < 64) revert RewardsAttestationWrongData(uid);
        (bytes32 attestedHash, uint256 attestedSize) = _firstTwoWords(a.data);
        if (attestedHash != dataHash || attestedSize != size) revert RewardsAttestationWrongData(uid);
    }

    function _firstTwoWords(bytes memory data) private pure returns (bytes32 first, uint256 second) {
        assembly ("memory-safe") {
            first := mload(add(data, 32))
            second := mload(add(data, 64))
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
