// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ISchemaResolver} from "@ethereum-attestation-service/eas-contracts/contracts/resolver/ISchemaResolver.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IContributorRewards} from "../../contracts/interfaces/IContributorRewards.sol";
import {IPolicyRegistry} from "../../contracts/interfaces/IPolicyRegistry.sol";
import {ReentrantClaimer} from "../helpers/ReentrantClaimer.sol";
import {SystemDeployer} from "../helpers/SystemDeployer.sol";

/// @notice Contributor rewards against the real EAS: every way a contribution can be refused, and
/// pro-rata claims that never pay twice nor more than the pool.
contract ContributorRewardsTest is SystemDeployer {
    bytes32 internal constant DATA = keccak256("training data #1");
    uint64 internal constant SIZE = 1_000;

    function setUp() public {
        _deploySystem();
        _configurePolicy();
    }

    // ---------------------------------------------------------------------------------------------
    // Recording
    // ---------------------------------------------------------------------------------------------

    function test_RecordContribution() public {
        bytes32 uid = _attest(_attester, _contributor, DATA, SIZE);
        uint64 epoch = _registry.currentEpoch();
        vm.expectEmit(address(_rewards));
        emit IContributorRewards.ContributionRecorded(DATA, _contributor, epoch, SIZE, SIZE, _worker);
        _record(_contributor, DATA, SIZE, _uids(uid));

        IContributorRewards.Contribution memory c = _rewards.contributionOf(DATA);
        assertEq(c.contributor, _contributor);
        assertEq(uint256(c.epoch), epoch);
        assertEq(uint256(c.size), SIZE);
        assertEq(uint256(c.recordedAt), block.timestamp);
        assertEq(c.worker, _worker);
        (, uint256 totalWeight, ) = _rewards.epochTotals(epoch);
        (uint256 weight, uint256 claimed) = _rewards.shareOf(epoch, _contributor);
        assertEq(totalWeight, SIZE);
        assertEq(weight, SIZE);
        assertEq(claimed, 0);
    }

    function testFuzz_RecordContribution(bytes32 dataHash, uint64 size, uint64 weight) public {
        vm.assume(dataHash != bytes32(0));
        size = uint64(_bound(size, 1, type(uint32).max));
        weight = uint64(_bound(weight, 1, size));
        _record(_contributor, dataHash, size, weight, _uids(_attest(_attester, _contributor, dataHash, size)));
        IContributorRewards.Contribution memory c = _rewards.contributionOf(dataHash);
        assertEq(uint256(c.size), size);
        assertEq(uint256(c.weight), weight);
        (uint256 share, ) = _rewards.shareOf(0, _contributor);
        assertEq(share, weight);
    }

    /// @dev The weight is what pays: a file padded to ten times the bytes of another with the same
    /// number of unique records (the worker counts padding and repeats as nothing) earns the same.
    function test_PaddedContributionEarnsNoMoreThanItsUniqueRecords() public {
        bytes32 padded = keccak256("10 records and 9 KB of padding");
        bytes32 plain = keccak256("10 other records");
        bytes32[] memory uids = _uids(_attest(_attester, _contributor, padded, 10_000));
        vm.expectEmit(address(_rewards));
        emit IContributorRewards.ContributionRecorded(padded, _contributor, 0, 10_000, 10, _worker);
        _record(_contributor, padded, 10_000, 10, uids);
        _record(_contributor2, plain, 1_000, 10, _uids(_attest(_attester, _contributor2, plain, 1_000)));
        _fund(0, 2 ether);
        _endEpoch();
        (, uint256 totalWeight, ) = _rewards.epochTotals(0);
        assertEq(totalWeight, 20);
        assertEq(_rewards.claimable(0, _contributor), 1 ether);
        assertEq(_rewards.claimable(0, _contributor2), 1 ether);
        vm.prank(_contributor);
        assertEq(_rewards.claim(0), 1 ether);
    }

    /// @dev A file whose every record is already in the pool has no weight: it is refused, not
    /// recorded at zero, so it takes no data hash and no place in the epoch.
    function test_RevertIf_WeightZero() public {
        bytes32[] memory uids = _uids(_attest(_attester, _contributor, DATA, SIZE));
        vm.expectRevert(abi.encodeWithSelector(IContributorRewards.RewardsInvalidContribution.selector, DATA, SIZE, 0));
        _record(_contributor, DATA, SIZE, 0, uids);
        _assertNothingRecorded(DATA);
    }

    /// @dev No file of `size` bytes holds more than `size` records: a worker cannot weigh it more.
    function testFuzz_RevertIf_WeightOverSize(uint64 weight) public {
        weight = uint64(_bound(weight, uint256(SIZE) + 1, type(uint64).max));
        bytes32[] memory uids = _uids(_attest(_attester, _contributor, DATA, SIZE));
        vm.expectRevert(
            abi.encodeWithSelector(IContributorRewards.RewardsInvalidContribution.selector, DATA, SIZE, weight)
        );
        _record(_contributor, DATA, SIZE, weight, uids);
        _assertNothingRecorded(DATA);
    }

    function test_RecordContributionsInOneBatch() public {
        IContributorRewards.ContributionInput[] memory batch = new IContributorRewards.ContributionInput[](3);
        for (uint256 i = 0; i < batch.length; ++i) {
            address who = i % 2 == 0 ? _contributor : _contributor2;
            bytes32 dataHash = keccak256(abi.encode("batch", i));
            uint64 size = uint64(100 * (i + 1));
            batch[i] = IContributorRewards.ContributionInput(
                who,
                dataHash,
                size,
                size,
                _uids(_attest(_attester, who, dataHash, size)),
                new IContributorRewards.OffchainAttestation[](0)
            );
        }
        vm.prank(_worker);
        _rewards.recordContributions(batch);
        (, uint256 totalWeight, ) = _rewards.epochTotals(0);
        (uint256 weight, ) = _rewards.shareOf(0, _contributor);
        assertEq(totalWeight, 600);
        assertEq(weight, 400);
    }

    function test_TwoDistinctAttestersMeetMinimumOfTwo() public {
        _setRequirement(2, 0);
        bytes32 a = _attest(_attester, _contributor, DATA, SIZE);
        bytes32 b = _attest(_attester2, _contributor, DATA, SIZE);
        _record(_contributor, DATA, SIZE, _uids(a, b));
        assertEq(_rewards.contributionOf(DATA).contributor, _contributor);
    }

    // ---------------------------------------------------------------------------------------------
    // Refusals: each with its error, and nothing recorded
    // ---------------------------------------------------------------------------------------------

    function testFuzz_RevertIf_AttestationUnknown(bytes32 forgedUid) public {
        vm.assume(forgedUid != bytes32(0));
        _expectRefused(
            abi.encodeWithSelector(IContributorRewards.RewardsAttestationNotFound.selector, forgedUid),
            _contributor,
            _uids(forgedUid)
        );
    }

    function test_RevertIf_AttestationRevoked() public {
        bytes32 uid = _attest(_attester, _contributor, DATA, SIZE);
        vm.warp(block.timestamp + 10);
        _revoke(_attester, uid);
        _expectRefused(
            abi.encodeWithSelector(
                IContributorRewards.RewardsAttestationRevoked.selector,
                uid,
                uint64(block.timestamp)
            ),
            _contributor,
            _uids(uid)
        );
    }

    function test_RevertIf_AttestationExpired() public {
        uint64 expiresAt = uint64(block.timestamp + 100);
        bytes32 uid = _attestRaw(_attester, _dataSchemaUID, _contributor, expiresAt, _attestationData(DATA, SIZE));
        vm.warp(expiresAt);
        _expectRefused(
            abi.encodeWithSelector(IContributorRewards.RewardsAttestationExpired.selector, uid, expiresAt),
            _contributor,
            _uids(uid)
        );
    }

    function test_AttestationBeforeExpiryAccepted() public {
        uint64 expiresAt = uint64(block.timestamp + 100);
        bytes32 uid = _attestRaw(_attester, _dataSchemaUID, _contributor, expiresAt, _attestationData(DATA, SIZE));
        vm.warp(expiresAt - 1);
        _record(_contributor, DATA, SIZE, _uids(uid));
        assertEq(_rewards.contributionOf(DATA).contributor, _contributor);
    }

    function testFuzz_RevertIf_AttestationTooOld(uint64 maxAge, uint256 age) public {
        maxAge = uint64(_bound(maxAge, 1, 365 days));
        age = _bound(age, uint256(maxAge) + 1, 10 * 365 days);
        _setRequirement(1, maxAge);
        uint64 attestedAt = uint64(block.timestamp);
        bytes32 uid = _attest(_attester, _contributor, DATA, SIZE);
        vm.warp(block.timestamp + age);
        _expectRefused(
            abi.encodeWithSelector(IContributorRewards.RewardsAttestationTooOld.selector, uid, attestedAt, maxAge),
            _contributor,
            _uids(uid)
        );
    }

    function test_AttestationExactlyMaxAgeAccepted() public {
        _setRequirement(1, 1 days);
        bytes32 uid = _attest(_attester, _contributor, DATA, SIZE);
        vm.warp(block.timestamp + 1 days);
        _record(_contributor, DATA, SIZE, _uids(uid));
        assertEq(_rewards.contributionOf(DATA).contributor, _contributor);
    }

    function test_RevertIf_AttestationOnWrongSchema() public {
        bytes32 otherSchema = _schemaRegistry.register(
            "bytes32 dataHash,uint64 size",
            ISchemaResolver(address(0)),
            true
        );
        bytes32 uid = _attestRaw(_attester, otherSchema, _contributor, 0, abi.encode(DATA, SIZE));
        _expectRefused(
            abi.encodeWithSelector(
                IContributorRewards.RewardsAttestationWrongSchema.selector,
                uid,
                otherSchema,
                _dataSchemaUID
            ),
            _contributor,
            _uids(uid)
        );
    }

    function testFuzz_RevertIf_AttesterUntrusted(address by) public {
        vm.assume(by != _attester && by != _attester2 && by != address(0));
        bytes32 uid = _attest(by, _contributor, DATA, SIZE);
        _expectRefused(
            abi.encodeWithSelector(IContributorRewards.RewardsAttestationUntrustedAttester.selector, uid, by),
            _contributor,
            _uids(uid)
        );
    }

    function test_RevertIf_AttesterNoLongerTrusted() public {
        bytes32 uid = _attest(_attester, _contributor, DATA, SIZE);
        address[] memory attesters = new address[](1);
        attesters[0] = _attester2;
        vm.prank(address(_timelock));
        _registry.setAttestationRequirement(_dataSchemaUID, attesters, 1, 0);
        _expectRefused(
            abi.encodeWithSelector(IContributorRewards.RewardsAttestationUntrustedAttester.selector, uid, _attester),
            _contributor,
            _uids(uid)
        );
    }

    function test_RevertIf_AttestationAboutSomeoneElse() public {
        bytes32 uid = _attest(_attester, _contributor2, DATA, SIZE);
        _expectRefused(
            abi.encodeWithSelector(
                IContributorRewards.RewardsAttestationWrongRecipient.selector,
                uid,
                _contributor2,
                _contributor
            ),
            _contributor,
            _uids(uid)
        );
    }

    function testFuzz_RevertIf_AttestedHashOrSizeDiffer(bytes32 attestedHash, uint64 attestedSize) public {
        vm.assume(attestedHash != DATA || attestedSize != SIZE);
        bytes32 uid = _attest(_attester, _contributor, attestedHash, attestedSize);
        _expectRefused(
            abi.encodeWithSelector(IContributorRewards.RewardsAttestationWrongData.selector, uid),
            _contributor,
            _uids(uid)
        );
    }

    function test_RevertIf_AttestationDataTooShort() public {
        // EAS does not check data against the schema, so an attester may attest a truncated payload.
        bytes32 uid = _attestRaw(_attester, _dataSchemaUID, _contributor, 0, abi.encode(DATA));
        _expectRefused(
            abi.encodeWithSelector(IContributorRewards.RewardsAttestationWrongData.selector, uid),
            _contributor,
            _uids(uid)
        );
    }

    function test_RevertIf_TooFewDistinctAttesters() public {
        _setRequirement(2, 0);
        bytes32 a = _attest(_attester, _contributor, DATA, SIZE);
        bytes32 b = _attest(_attester, _contributor, DATA, SIZE);
        _expectRefused(
            abi.encodeWithSelector(IContributorRewards.RewardsInsufficientAttestations.selector, 1, 2),
            _contributor,
            _uids(a, b)
        );
        // Nor does the same attestation given twice count twice.
        _expectRefused(
            abi.encodeWithSelector(IContributorRewards.RewardsInsufficientAttestations.selector, 1, 2),
            _contributor,
            _uids(a, a)
        );
    }

    function test_RevertIf_NoAttestation() public {
        _expectRefused(
            abi.encodeWithSelector(IContributorRewards.RewardsInsufficientAttestations.selector, 0, 1),
            _contributor,
            new bytes32[](0)
        );
    }

    function test_RevertIf_DataAlreadyRecorded() public {
        _recordAttested(_contributor, DATA, SIZE);
        // Someone else, with their own valid attestation of the same data, is still refused.
        bytes32 uid = _attest(_attester2, _contributor2, DATA, SIZE);
        vm.expectRevert(abi.encodeWithSelector(IContributorRewards.RewardsDuplicateContribution.selector, DATA));
        _record(_contributor2, DATA, SIZE, _uids(uid));
        assertEq(_rewards.contributionOf(DATA).contributor, _contributor);
        (, uint256 totalWeight, ) = _rewards.epochTotals(0);
        assertEq(totalWeight, SIZE);
    }

    function test_RevertIf_DataRepeatedInOneBatch() public {
        bytes32 uid = _attest(_attester, _contributor, DATA, SIZE);
        IContributorRewards.ContributionInput[] memory batch = new IContributorRewards.ContributionInput[](2);
        batch[0] = IContributorRewards.ContributionInput(
            _contributor,
            DATA,
            SIZE,
            SIZE,
            _uids(uid),
            new IContributorRewards.OffchainAttestation[](0)
        );
        batch[1] = batch[0];
        vm.expectRevert(abi.encodeWithSelector(IContributorRewards.RewardsDuplicateContribution.selector, DATA));
        vm.prank(_worker);
        _rewards.recordContributions(batch);
        _assertNothingRecorded(DATA);
    }

    function test_RevertIf_OneBadContributionInBatch() public {
        bytes32 good = keccak256("good");
        IContributorRewards.ContributionInput[] memory batch = new IContributorRewards.ContributionInput[](2);
        batch[0] = IContributorRewards.ContributionInput(
            _contributor,
            good,
            SIZE,
            SIZE,
            _uids(_attest(_attester, _contributor, good, SIZE)),
            new IContributorRewards.OffchainAttestation[](0)
        );
        bytes32 forged = keccak256("forged uid");
        batch[1] = IContributorRewards.ContributionInput(
            _contributor,
            DATA,
            SIZE,
            SIZE,
            _uids(forged),
            new IContributorRewards.OffchainAttestation[](0)
        );
        vm.expectRevert(abi.encodeWithSelector(IContributorRewards.RewardsAttestationNotFound.selector, forged));
        vm.prank(_worker);
        _rewards.recordContributions(batch);
        _assertNothingRecorded(good);
    }

    function testFuzz_RevertIf_ContributorNotAllowed(address who) public {
        vm.assume(who != _contributor && who != _contributor2);
        bytes32 uid = _attest(_attester, who, DATA, SIZE);
        _expectRefused(
            abi.encodeWithSelector(IContributorRewards.RewardsSubmitterNotAllowed.selector, who),
            who,
            _uids(uid)
        );
    }

    function test_RevertIf_ContributorRemovedFromAllowlist() public {
        bytes32 uid = _attest(_attester, _contributor, DATA, SIZE);
        vm.prank(address(_timelock));
        _registry.setSubmitter(_contributor, false);
        _expectRefused(
            abi.encodeWithSelector(IContributorRewards.RewardsSubmitterNotAllowed.selector, _contributor),
            _contributor,
            _uids(uid)
        );
    }

    function testFuzz_RevertIf_CallerNotWorker(address caller) public {
        vm.assume(caller != _worker);
        bytes32[] memory uids = _uids(_attest(_attester, _contributor, DATA, SIZE));
        vm.expectRevert(abi.encodeWithSelector(IContributorRewards.RewardsNotWorker.selector, caller));
        vm.prank(caller);
        _rewards.recordContribution(_contributor, DATA, SIZE, SIZE, uids);
        _assertNothingRecorded(DATA);
    }

    function test_RevertIf_WorkerRemoved() public {
        bytes32[] memory uids = _uids(_attest(_attester, _contributor, DATA, SIZE));
        _passPolicy(abi.encodeCall(IPolicyRegistry.setWorker, (_worker, false)));
        vm.expectRevert(abi.encodeWithSelector(IContributorRewards.RewardsNotWorker.selector, _worker));
        _record(_contributor, DATA, SIZE, uids);
        _assertNothingRecorded(DATA);
    }

    function test_RevertIf_KillSwitchEngaged() public {
        bytes32[] memory uids = _uids(_attest(_attester, _contributor, DATA, SIZE));
        vm.prank(_guardian);
        _registry.engageKillSwitch("poisoned data");
        _expectRefused(
            abi.encodeWithSelector(IContributorRewards.RewardsKillSwitchEngaged.selector),
            _contributor,
            uids
        );
        vm.expectRevert(abi.encodeWithSelector(IContributorRewards.RewardsKillSwitchEngaged.selector));
        vm.prank(_worker);
        _rewards.recordContributions(new IContributorRewards.ContributionInput[](0));
    }

    /// @dev Until governance sets an attestation requirement, `attestationRequirement()` is all
    /// zeros. Recording used to ask for 0 distinct attesters then, so a worker could record any
    /// size of "data" with no attestation at all (fail open); it must fail closed.
    function test_RevertIf_NoAttestationRequirementSet() public {
        _deploySystem(); // A fresh system, with a worker and a submitter but no requirement.
        vm.startPrank(address(_timelock));
        _registry.setWorker(_worker, true);
        _registry.setSubmitter(_contributor, true);
        vm.stopPrank();
        _expectRefused(
            abi.encodeWithSelector(IContributorRewards.RewardsNoAttestationRequirement.selector),
            _contributor,
            new bytes32[](0)
        );
    }

    function test_RevertIf_HashOrSizeZero() public {
        bytes32[] memory none = new bytes32[](0);
        vm.expectRevert(abi.encodeWithSelector(IContributorRewards.RewardsInvalidContribution.selector, DATA, 0, 0));
        _record(_contributor, DATA, 0, none);
        vm.expectRevert(
            abi.encodeWithSelector(IContributorRewards.RewardsInvalidContribution.selector, bytes32(0), SIZE, SIZE)
        );
        _record(_contributor, bytes32(0), SIZE, none);
    }

    // ---------------------------------------------------------------------------------------------
    // Funding
    // ---------------------------------------------------------------------------------------------

    function testFuzz_Fund(uint64 epoch, uint256 amount) public {
        amount = _bound(amount, 1, 1e30);
        vm.deal(_outsider, amount);
        vm.expectEmit(address(_rewards));
        emit IContributorRewards.PoolFunded(epoch, _outsider, amount);
        vm.prank(_outsider);
        _rewards.fund{value: amount}(epoch);
        (uint256 pool, , ) = _rewards.epochTotals(epoch);
        (uint256 received, ) = _rewards.totals();
        assertEq(pool, amount);
        assertEq(received, amount);
    }

    function test_RevertIf_FundedWithNothing() public {
        vm.expectRevert(abi.encodeWithSelector(IContributorRewards.RewardsZeroAmount.selector));
        _rewards.fund(0);
    }

    /// @dev Fees and grants still come in while the switch is engaged; what they pay waits for the lift.
    function test_FundWhileKillSwitchEngagedAndClaimOnceLifted() public {
        _recordAttested(_contributor, DATA, SIZE);
        vm.prank(_guardian);
        _registry.engageKillSwitch("stop");
        _fund(0, 1 ether);
        _endEpoch();
        _passPolicy(abi.encodeCall(IPolicyRegistry.liftKillSwitch, (_registry.killSwitch().engagementId)));
        vm.prank(_contributor);
        assertEq(_rewards.claim(0), 1 ether);
    }

    // ---------------------------------------------------------------------------------------------
    // Claims
    // ---------------------------------------------------------------------------------------------

    function test_ClaimProRata() public {
        _recordAttested(_contributor, keccak256("a"), 300);
        _recordAttested(_contributor2, keccak256("b"), 100);
        _fund(0, 4 ether);
        _endEpoch();
        assertEq(_rewards.claimable(0, _contributor), 3 ether);

        vm.expectEmit(address(_rewards));
        emit IContributorRewards.RewardClaimed(0, _contributor, 3 ether);
        vm.prank(_contributor);
        assertEq(_rewards.claim(0), 3 ether);
        vm.prank(_contributor2);
        assertEq(_rewards.claim(0), 1 ether);

        assertEq(_contributor.balance, 3 ether);
        assertEq(_contributor2.balance, 1 ether);
        (uint256 pool, , uint256 paid) = _rewards.epochTotals(0);
        assertEq(paid, pool);
        (uint256 received, uint256 paidOut) = _rewards.totals();
        assertEq(received, paidOut);
        assertEq(address(_rewards).balance, 0);
    }

    function test_RevertIf_ClaimedBeforeEpochEnds() public {
        _recordAttested(_contributor, DATA, SIZE);
        _fund(0, 1 ether);
        assertEq(_rewards.claimable(0, _contributor), 0);
        vm.expectRevert(abi.encodeWithSelector(IContributorRewards.RewardsEpochNotOver.selector, 0, 0));
        vm.prank(_contributor);
        _rewards.claim(0);
    }

    function test_RevertIf_ClaimedTwice() public {
        _fundedEpochZero();
        vm.prank(_contributor);
        _rewards.claim(0);
        vm.expectRevert(abi.encodeWithSelector(IContributorRewards.RewardsNothingToClaim.selector, 0, _contributor));
        vm.prank(_contributor);
        _rewards.claim(0);
        assertEq(_contributor.balance, 1 ether);
    }

    function testFuzz_RevertIf_ClaimedByNonContributor(address who) public {
        vm.assume(who != _contributor);
        _fundedEpochZero();
        vm.expectRevert(abi.encodeWithSelector(IContributorRewards.RewardsNothingToClaim.selector, 0, who));
        vm.prank(who);
        _rewards.claim(0);
    }

    function test_ClaimManyPaysEachEpochOnce() public {
        _recordAttested(_contributor, keccak256("e0"), SIZE);
        _fund(0, 1 ether);
        _endEpoch();
        _recordAttested(_contributor, keccak256("e1"), SIZE);
        _fund(1, 2 ether);
        _endEpoch();
        uint64[] memory epochs = new uint64[](3);
        epochs[0] = 0;
        epochs[1] = 1;
        epochs[2] = 0;
        vm.prank(_contributor);
        assertEq(_rewards.claimMany(epochs), 3 ether);
        assertEq(_contributor.balance, 3 ether);
        vm.expectRevert(abi.encodeWithSelector(IContributorRewards.RewardsNothingToClaim.selector, 0, _contributor));
        vm.prank(_contributor);
        _rewards.claimMany(epochs);
    }

    function test_RevertIf_ClaimManyOfNothing() public {
        vm.expectRevert(abi.encodeWithSelector(IContributorRewards.RewardsNothingToClaim.selector, 0, _contributor));
        vm.prank(_contributor);
        _rewards.claimMany(new uint64[](0));
    }

    function test_LateFundingOfPastEpochClaimableAsDifference() public {
        _recordAttested(_contributor, keccak256("a"), 300);
        _recordAttested(_contributor2, keccak256("b"), 100);
        _fund(0, 4 ether);
        _endEpoch();
        vm.prank(_contributor);
        _rewards.claim(0);

        // The treasury (or a late settlement) adds to the ended epoch's pool.
        _fund(0, 2 ether);
        assertEq(_rewards.claimable(0, _contributor), 1.5 ether);
        assertEq(_rewards.claimable(0, _contributor2), 1.5 ether);
        vm.prank(_contributor);
        assertEq(_rewards.claim(0), 1.5 ether);
        vm.prank(_contributor2);
        assertEq(_rewards.claim(0), 1.5 ether);
        assertEq(_contributor.balance, 4.5 ether);
        (uint256 pool, , uint256 paid) = _rewards.epochTotals(0);
        assertEq(pool, 6 ether);
        assertEq(paid, 6 ether);
    }

    /// @dev A contribution's size is stored in 32 bits (so that it fits one storage slot): a larger
    /// one is refused rather than recorded with a wrong size.
    function test_RevertIf_SizeOver4GiB() public {
        uint64 size = uint64(type(uint32).max) + 1;
        bytes32[] memory uids = _uids(_attest(_attester, _contributor, DATA, size));
        vm.expectRevert(
            abi.encodeWithSelector(IContributorRewards.RewardsInvalidContribution.selector, DATA, size, SIZE)
        );
        _record(_contributor, DATA, size, SIZE, uids);
        _assertNothingRecorded(DATA);
    }

    /// @dev A batch checks every item as one recording does, stores each, and sums the weights
    /// per contributor whatever order the contributors come in.
    function test_RecordContributionsBatchOfSeveralContributors() public {
        IContributorRewards.ContributionInput[] memory batch = new IContributorRewards.ContributionInput[](4);
        address[4] memory who = [_contributor, _contributor, _contributor2, _contributor];
        for (uint256 i = 0; i < batch.length; ++i) {
            bytes32 dataHash = keccak256(abi.encode("batch item", i));
            batch[i] = IContributorRewards.ContributionInput(
                who[i],
                dataHash,
                SIZE,
                uint64(10 + i),
                _uids(_attest(_attester, who[i], dataHash, SIZE)),
                new IContributorRewards.OffchainAttestation[](0)
            );
        }
        vm.warp(block.timestamp + 5);
        vm.prank(_worker);
        _rewards.recordContributions(batch);
        (uint256 first, ) = _rewards.shareOf(0, _contributor);
        (uint256 second, ) = _rewards.shareOf(0, _contributor2);
        (, uint256 totalWeight, ) = _rewards.epochTotals(0);
        assertEq(first, 10 + 11 + 13);
        assertEq(second, 12);
        assertEq(totalWeight, 46);
        IContributorRewards.Contribution memory c = _rewards.contributionOf(batch[2].dataHash);
        assertEq(c.contributor, _contributor2);
        assertEq(uint256(c.weight), 12);
        assertEq(uint256(c.size), SIZE);
        assertEq(uint256(c.recordedAt), block.timestamp);
        assertEq(c.worker, _worker);
        assertEq(uint256(c.withdrawnAt), 0);
    }

    /// @dev One bad item fails the whole batch: nothing of it is recorded.
    function test_RevertIf_BatchHasOneBadItem() public {
        IContributorRewards.ContributionInput[] memory batch = new IContributorRewards.ContributionInput[](2);
        bytes32 good = keccak256("good");
        batch[0] = IContributorRewards.ContributionInput(
            _contributor,
            good,
            SIZE,
            SIZE,
            _uids(_attest(_attester, _contributor, good, SIZE)),
            new IContributorRewards.OffchainAttestation[](0)
        );
        batch[1] = IContributorRewards.ContributionInput(
            _contributor2,
            DATA,
            SIZE,
            SIZE,
            _uids(_attest(_attester, _contributor, DATA, SIZE)),
            new IContributorRewards.OffchainAttestation[](0)
        );
        vm.expectRevert();
        vm.prank(_worker);
        _rewards.recordContributions(batch);
        _assertNothingRecorded(good);
    }

    // ---------------------------------------------------------------------------------------------
    // Withdrawing
    // ---------------------------------------------------------------------------------------------

    function test_WithdrawContribution() public {
        _recordAttested(_contributor, DATA, SIZE);
        vm.warp(block.timestamp + 100);
        vm.expectEmit(address(_rewards));
        emit IContributorRewards.ContributionWithdrawn(DATA, _contributor, 0, SIZE);
        vm.prank(_contributor);
        _rewards.withdrawContribution(DATA);
        IContributorRewards.Contribution memory c = _rewards.contributionOf(DATA);
        assertEq(uint256(c.withdrawnAt), block.timestamp);
        assertFalse(c.voided);
        assertEq(c.contributor, _contributor);
    }

    /// @dev Withdrawn while its epoch runs, it takes its weight out: the epoch's pool goes to the
    /// data that stayed.
    function test_WithdrawnDuringItsEpochEarnsNothingFromItsPool() public {
        _recordAttested(_contributor, DATA, 300);
        _recordAttested(_contributor2, keccak256("stays"), 100);
        vm.prank(_contributor);
        _rewards.withdrawContribution(DATA);
        _fund(0, 4 ether);
        _endEpoch();
        (, uint256 totalWeight, ) = _rewards.epochTotals(0);
        assertEq(totalWeight, 100);
        assertEq(_rewards.claimable(0, _contributor), 0);
        vm.prank(_contributor2);
        assertEq(_rewards.claim(0), 4 ether);
    }

    /// @dev Withdrawn after its epoch ended, it keeps the share it earned there; it has no weight in
    /// any later epoch, so later pools never pay it.
    function test_WithdrawnAfterItsEpochKeepsItsShareAndEarnsNoLaterPool() public {
        _fundedEpochZero();
        _recordAttested(_contributor2, keccak256("epoch 1"), 100);
        vm.expectEmit(address(_rewards));
        emit IContributorRewards.ContributionWithdrawn(DATA, _contributor, 0, 0);
        vm.prank(_contributor);
        _rewards.withdrawContribution(DATA);
        _fund(1, 1 ether);
        _endEpoch();
        assertEq(_rewards.claimable(0, _contributor), 1 ether);
        assertEq(_rewards.claimable(1, _contributor), 0);
        vm.prank(_contributor);
        assertEq(_rewards.claim(0), 1 ether);
    }

    /// @dev The attack: another account (a rival contributor, the worker, the timelock) withdraws
    /// someone's data to take it out of training and its pool. Refused; nothing changes.
    function testFuzz_RevertIf_SomeoneElseWithdrawsAContributorsData(address attacker) public {
        vm.assume(attacker != _contributor);
        _recordAttested(_contributor, DATA, SIZE);
        vm.expectRevert(
            abi.encodeWithSelector(IContributorRewards.RewardsNotContributor.selector, DATA, attacker, _contributor)
        );
        vm.prank(attacker);
        _rewards.withdrawContribution(DATA);
        assertEq(uint256(_rewards.contributionOf(DATA).withdrawnAt), 0);
        (, uint256 totalWeight, ) = _rewards.epochTotals(0);
        assertEq(totalWeight, SIZE);
    }

    function test_RevertIf_WithdrawnTwice() public {
        _recordAttested(_contributor, DATA, SIZE);
        vm.prank(_contributor);
        _rewards.withdrawContribution(DATA);
        uint256 withdrawnAt = block.timestamp;
        vm.warp(block.timestamp + 10);
        vm.expectRevert(
            abi.encodeWithSelector(IContributorRewards.RewardsContributionWithdrawn.selector, DATA, withdrawnAt)
        );
        vm.prank(_contributor);
        _rewards.withdrawContribution(DATA);
        assertEq(uint256(_rewards.contributionOf(DATA).withdrawnAt), withdrawnAt);
    }

    function test_RevertIf_UnknownContributionWithdrawn() public {
        vm.expectRevert(abi.encodeWithSelector(IContributorRewards.RewardsUnknownContribution.selector, DATA));
        vm.prank(_contributor);
        _rewards.withdrawContribution(DATA);
    }

    /// @dev A withdrawn hash stays taken: the same data is not recorded (and paid) again.
    function test_RevertIf_WithdrawnDataRecordedAgain() public {
        _recordAttested(_contributor, DATA, SIZE);
        vm.prank(_contributor);
        _rewards.withdrawContribution(DATA);
        bytes32 uid = _attest(_attester, _contributor, DATA, SIZE);
        vm.expectRevert(abi.encodeWithSelector(IContributorRewards.RewardsDuplicateContribution.selector, DATA));
        vm.prank(_worker);
        _rewards.recordContribution(_contributor, DATA, SIZE, SIZE, _uids(uid));
    }

    /// @dev Voiding a contribution withdrawn while its epoch ran marks it voided without taking its
    /// weight out twice; withdrawing a voided one does not either.
    function test_VoidAndWithdrawTakeTheWeightOutOnce() public {
        bytes32 other = keccak256("other");
        _recordAttested(_contributor, DATA, 300);
        _recordAttested(_contributor, other, 200);
        _recordAttested(_contributor2, keccak256("stays"), 100);
        vm.prank(_contributor);
        _rewards.withdrawContribution(DATA);
        _void(DATA);
        _void(other);
        vm.prank(_contributor);
        _rewards.withdrawContribution(other);
        IContributorRewards.Contribution memory c = _rewards.contributionOf(DATA);
        assertTrue(c.voided);
        assertTrue(c.withdrawnAt != 0);
        (, uint256 totalWeight, ) = _rewards.epochTotals(0);
        (uint256 weight, ) = _rewards.shareOf(0, _contributor);
        assertEq(totalWeight, 100);
        assertEq(weight, 0);
    }

    /// @dev An epoch whose only contribution was withdrawn while it ran has no one to pay: its pool rolls over.
    function test_EpochLeftEmptyByWithdrawalRollsOver() public {
        _recordAttested(_contributor, DATA, SIZE);
        _fund(0, 1 ether);
        vm.prank(_contributor);
        _rewards.withdrawContribution(DATA);
        _endEpoch();
        _rewards.rollOver(0);
        (uint256 pool, , ) = _rewards.epochTotals(1);
        assertEq(pool, 1 ether);
    }

    // ---------------------------------------------------------------------------------------------
    // Voiding
    // ---------------------------------------------------------------------------------------------

    /// @dev Issue 19: poisoned data was recorded; its attestation is revoked, the switch engaged,
    /// and the contributor would still be paid. A vote voids it: it is never paid, and its share
    /// goes to the epoch's other contributions.
    function test_RevertIf_voidedContributionIsPaid() public {
        bytes32 poisoned = keccak256("poisoned");
        _recordAttested(_contributor, poisoned, 300);
        _recordAttested(_contributor2, keccak256("honest"), 100);
        _fund(0, 4 ether);
        _void(poisoned);
        assertTrue(_voided(poisoned));
        _endEpoch();

        assertEq(_rewards.claimable(0, _contributor), 0);
        vm.expectRevert(abi.encodeWithSelector(IContributorRewards.RewardsNothingToClaim.selector, 0, _contributor));
        vm.prank(_contributor);
        _rewards.claim(0);
        vm.prank(_contributor2);
        assertEq(_rewards.claim(0), 4 ether);
        (uint256 received, uint256 paidOut) = _rewards.totals();
        assertEq(paidOut, received);
        assertEq(address(_rewards).balance, 0);
    }

    /// @dev Issue 19: the epoch is over when the poison is found, so its contributor would claim
    /// before any vote to void it could pass. The guardian's kill switch holds every claim until
    /// the DAO has voted: the void, then the lift.
    function test_RevertIf_poisonedContributionClaimedBeforeTheVoidingVote() public {
        bytes32 poisoned = keccak256("poisoned");
        _recordAttested(_contributor, poisoned, 300);
        _recordAttested(_contributor2, keccak256("honest"), 100);
        _fund(0, 4 ether);
        _endEpoch();
        vm.prank(_guardian);
        _registry.engageKillSwitch("poisoned data");

        vm.expectRevert(abi.encodeWithSelector(IContributorRewards.RewardsKillSwitchEngaged.selector));
        vm.prank(_contributor);
        _rewards.claim(0);
        uint64[] memory epochs = new uint64[](1);
        vm.expectRevert(abi.encodeWithSelector(IContributorRewards.RewardsKillSwitchEngaged.selector));
        vm.prank(_contributor);
        _rewards.claimMany(epochs);

        _void(poisoned);
        _passPolicy(abi.encodeCall(IPolicyRegistry.liftKillSwitch, (_registry.killSwitch().engagementId)));
        vm.expectRevert(abi.encodeWithSelector(IContributorRewards.RewardsNothingToClaim.selector, 0, _contributor));
        vm.prank(_contributor);
        _rewards.claim(0);
        vm.prank(_contributor2);
        assertEq(_rewards.claim(0), 4 ether);
    }

    /// @dev Voiding takes away the contribution's weight, not its size.
    function test_VoidSubtractsTheWeight() public {
        bytes32 poisoned = keccak256("poisoned");
        _record(_contributor, poisoned, 5_000, 7, _uids(_attest(_attester, _contributor, poisoned, 5_000)));
        _record(_contributor, DATA, SIZE, 3, _uids(_attest(_attester, _contributor, DATA, SIZE)));
        vm.expectEmit(address(_rewards));
        emit IContributorRewards.ContributionVoided(poisoned, _contributor, 0, 7);
        vm.prank(address(_timelock));
        _rewards.voidContribution(poisoned);
        (uint256 weight, ) = _rewards.shareOf(0, _contributor);
        assertEq(weight, 3);
        (, uint256 totalWeight, ) = _rewards.epochTotals(0);
        assertEq(totalWeight, 3);
    }

    function test_VoidingKeepsTheContributorsOtherData() public {
        bytes32 poisoned = keccak256("poisoned");
        _recordAttested(_contributor, poisoned, 300);
        _recordAttested(_contributor, keccak256("clean"), 100);
        _recordAttested(_contributor2, keccak256("honest"), 100);
        _fund(0, 4 ether);
        _void(poisoned);
        _endEpoch();
        (uint256 weight, ) = _rewards.shareOf(0, _contributor);
        assertEq(weight, 100);
        (, uint256 totalWeight, ) = _rewards.epochTotals(0);
        assertEq(totalWeight, 200);
        assertEq(_rewards.claimable(0, _contributor), 2 ether);
        assertEq(_rewards.claimable(0, _contributor2), 2 ether);
    }

    /// @dev Those who claimed before the vote get the difference their grown share brings.
    function test_VoidAfterOthersClaimedPaysThemTheDifference() public {
        bytes32 poisoned = keccak256("poisoned");
        _recordAttested(_contributor, poisoned, 300);
        _recordAttested(_contributor2, keccak256("honest"), 100);
        _fund(0, 4 ether);
        _endEpoch();
        vm.prank(_contributor2);
        assertEq(_rewards.claim(0), 1 ether);
        _void(poisoned);
        vm.prank(_contributor2);
        assertEq(_rewards.claim(0), 3 ether);
        assertEq(_rewards.claimable(0, _contributor), 0);
    }

    /// @dev What was paid cannot be taken back, so a claimed share cannot be voided (the sum of
    /// claims would then exceed the shares).
    function test_RevertIf_contributionVoidedAfterItWasClaimed() public {
        _fundedEpochZero();
        vm.prank(_contributor);
        _rewards.claim(0);
        vm.expectRevert(abi.encodeWithSelector(IContributorRewards.RewardsContributionClaimed.selector, DATA, 0));
        vm.prank(address(_timelock));
        _rewards.voidContribution(DATA);
        assertFalse(_voided(DATA));
    }

    function testFuzz_RevertIf_voidedByNonTimelock(address caller) public {
        vm.assume(caller != address(_timelock));
        _recordAttested(_contributor, DATA, SIZE);
        vm.expectRevert(
            abi.encodeWithSelector(IContributorRewards.RewardsNotTimelock.selector, caller, address(_timelock))
        );
        vm.prank(caller);
        _rewards.voidContribution(DATA);
        assertFalse(_voided(DATA));
    }

    function test_RevertIf_VoidedTwiceOrUnknown() public {
        _recordAttested(_contributor, DATA, SIZE);
        vm.startPrank(address(_timelock));
        vm.expectRevert(
            abi.encodeWithSelector(IContributorRewards.RewardsUnknownContribution.selector, keccak256("unknown"))
        );
        _rewards.voidContribution(keccak256("unknown"));
        vm.expectEmit(address(_rewards));
        emit IContributorRewards.ContributionVoided(DATA, _contributor, 0, SIZE);
        _rewards.voidContribution(DATA);
        vm.expectRevert(abi.encodeWithSelector(IContributorRewards.RewardsContributionVoided.selector, DATA));
        _rewards.voidContribution(DATA);
        vm.stopPrank();
    }

    /// @dev A voided hash stays taken: the same poisoned data is not recorded (and paid) again.
    function test_RevertIf_VoidedDataRecordedAgain() public {
        _recordAttested(_contributor, DATA, SIZE);
        _void(DATA);
        bytes32 uid = _attest(_attester, _contributor, DATA, SIZE);
        vm.expectRevert(abi.encodeWithSelector(IContributorRewards.RewardsDuplicateContribution.selector, DATA));
        vm.prank(_worker);
        _rewards.recordContribution(_contributor, DATA, SIZE, SIZE, _uids(uid));
    }

    /// @dev An epoch whose only contribution was voided has no one left to pay: its pool rolls over.
    function test_EpochLeftEmptyByVoidRollsOver() public {
        _fundedEpochZero();
        _void(DATA);
        _rewards.rollOver(0);
        (uint256 pool, , ) = _rewards.epochTotals(1);
        assertEq(pool, 1 ether);
    }

    function test_ReentrantClaimIsRefused() public {
        ReentrantClaimer attacker = _fundedAttacker(true);
        attacker.claim(0);
        // Paid once; the nested claim hit the reentrancy guard.
        assertEq(attacker.payments(), 1);
        assertEq(address(attacker).balance, 1 ether);
        assertEq(
            attacker.reentryError(),
            abi.encodeWithSelector(ReentrancyGuard.ReentrancyGuardReentrantCall.selector)
        );
        (, uint256 claimed) = _rewards.shareOf(0, address(attacker));
        assertEq(claimed, 1 ether);
        vm.expectRevert(
            abi.encodeWithSelector(IContributorRewards.RewardsNothingToClaim.selector, 0, address(attacker))
        );
        attacker.claim(0);
    }

    function test_ReentrantClaimManyIsRefused() public {
        ReentrantClaimer attacker = _fundedAttacker(true);
        uint64[] memory epochs = new uint64[](1);
        attacker.claimMany(epochs);
        assertEq(address(attacker).balance, 1 ether);
        assertEq(
            attacker.reentryError(),
            abi.encodeWithSelector(ReentrancyGuard.ReentrancyGuardReentrantCall.selector)
        );
    }

    function test_RevertIf_ReentryRevertsThePayment() public {
        ReentrantClaimer attacker = _fundedAttacker(false);
        vm.expectRevert(
            abi.encodeWithSelector(IContributorRewards.RewardsTransferFailed.selector, address(attacker), 1 ether)
        );
        attacker.claim(0);
        assertEq(address(attacker).balance, 0);
        (, uint256 claimed) = _rewards.shareOf(0, address(attacker));
        assertEq(claimed, 0);
        (, uint256 paidOut) = _rewards.totals();
        assertEq(paidOut, 0);
    }

    /// @dev The pool, the late top-up, the number of contributors and their weights are all fuzzed;
    /// half the contributors claim before the top-up and everyone claims after it.
    function testFuzz_EpochNeverPaysMoreThanItsPool(uint256 pool, uint256 topUp, uint256 count, uint256 seed) public {
        pool = _bound(pool, 1, 1e36);
        topUp = _bound(topUp, 0, 1e36);
        count = _bound(count, 1, 8);
        address[] memory who = new address[](count);
        for (uint256 i = 0; i < count; ++i) {
            who[i] = address(uint160(0x10000 + i));
        }
        vm.prank(address(_timelock));
        _registry.setSubmitters(who, true);
        for (uint256 i = 0; i < count; ++i) {
            uint256 size = _bound(uint256(keccak256(abi.encode(seed, i))), 1, type(uint32).max);
            _recordAttested(who[i], keccak256(abi.encode("data", seed, i)), uint64(size));
        }
        _fund(0, pool);
        _endEpoch();

        for (uint256 i = 0; i < count; i += 2) _claimIfAny(who[i]);
        if (topUp != 0) _fund(0, topUp);
        for (uint256 i = 0; i < count; ++i) _claimIfAny(who[i]);

        uint256 paid = 0;
        for (uint256 i = 0; i < count; ++i) {
            paid += who[i].balance;
            assertEq(_rewards.claimable(0, who[i]), 0);
        }
        uint256 funded = pool + topUp;
        assertLte(paid, funded);
        // Each share is rounded down once over the cumulative pool, so less than a wei per contributor stays.
        assertLt(funded - paid, count);
        (, , uint256 epochPaid) = _rewards.epochTotals(0);
        (uint256 received, uint256 paidOut) = _rewards.totals();
        assertEq(epochPaid, paid);
        assertEq(paidOut, paid);
        assertEq(address(_rewards).balance, received - paidOut);
    }

    // ---------------------------------------------------------------------------------------------
    // Rolling an empty epoch's pool over
    // ---------------------------------------------------------------------------------------------

    function test_RollOverEmptyEpoch() public {
        _fund(0, 2 ether);
        _warpToEpoch(3);
        vm.expectEmit(address(_rewards));
        emit IContributorRewards.PoolRolledOver(0, 3, 2 ether);
        _rewards.rollOver(0);
        (uint256 from, , ) = _rewards.epochTotals(0);
        (uint256 to, , ) = _rewards.epochTotals(3);
        assertEq(from, 0);
        assertEq(to, 2 ether);

        // The rolled-over pool pays epoch 3's contributors.
        _recordAttested(_contributor, DATA, SIZE);
        _endEpoch();
        vm.prank(_contributor);
        assertEq(_rewards.claim(3), 2 ether);
    }

    function test_RevertIf_RolledOverTwice() public {
        _fund(0, 2 ether);
        _endEpoch();
        _rewards.rollOver(0);
        vm.expectRevert(abi.encodeWithSelector(IContributorRewards.RewardsZeroAmount.selector));
        _rewards.rollOver(0);
    }

    function test_RevertIf_RollOverEpochWithContributions() public {
        _fundedEpochZero();
        vm.expectRevert(abi.encodeWithSelector(IContributorRewards.RewardsEpochHasContributions.selector, 0));
        _rewards.rollOver(0);
    }

    function test_RevertIf_RollOverCurrentEpoch() public {
        _fund(0, 1 ether);
        vm.expectRevert(abi.encodeWithSelector(IContributorRewards.RewardsEpochNotOver.selector, 0, 0));
        _rewards.rollOver(0);
        vm.expectRevert(abi.encodeWithSelector(IContributorRewards.RewardsEpochNotOver.selector, 5, 0));
        _rewards.rollOver(5);
    }

    // ---------------------------------------------------------------------------------------------
    // Helpers
    // ---------------------------------------------------------------------------------------------

    function _record(address who, bytes32 dataHash, uint64 size, bytes32[] memory uids) internal {
        _record(who, dataHash, size, size, uids);
    }

    function _record(address who, bytes32 dataHash, uint64 size, uint64 weight, bytes32[] memory uids) internal {
        vm.prank(_worker);
        _rewards.recordContribution(who, dataHash, size, weight, uids);
    }

    /// @notice Expects recording (`DATA`, `SIZE`) for `who` with `uids` to fail with `err`, and
    /// checks that nothing was recorded.
    function _expectRefused(bytes memory err, address who, bytes32[] memory uids) internal {
        vm.expectRevert(err);
        _record(who, DATA, SIZE, uids);
        _assertNothingRecorded(DATA);
    }

    function _assertNothingRecorded(bytes32 dataHash) internal {
        assertEq(_rewards.contributionOf(dataHash).contributor, address(0));
        (, uint256 totalWeight, ) = _rewards.epochTotals(_registry.currentEpoch());
        assertEq(totalWeight, 0);
        (uint256 weight, ) = _rewards.shareOf(_registry.currentEpoch(), _contributor);
        assertEq(weight, 0);
    }

    function _setRequirement(uint8 minAttestations, uint64 maxAge) internal {
        address[] memory attesters = new address[](2);
        attesters[0] = _attester;
        attesters[1] = _attester2;
        vm.prank(address(_timelock));
        _registry.setAttestationRequirement(_dataSchemaUID, attesters, minAttestations, maxAge);
    }

    function _fund(uint64 epoch, uint256 amount) internal {
        vm.deal(_outsider, amount);
        vm.prank(_outsider);
        _rewards.fund{value: amount}(epoch);
    }

    /// @notice The DAO votes to void the contribution of `dataHash`.
    function _void(bytes32 dataHash) internal {
        _pass(_proposal(address(_rewards), abi.encodeCall(IContributorRewards.voidContribution, (dataHash))));
    }

    function _voided(bytes32 dataHash) internal view returns (bool) {
        return _rewards.contributionOf(dataHash).voided;
    }

    /// @notice `_contributor` is epoch 0's only contributor, its pool is 1 ether, and it is over.
    function _fundedEpochZero() internal {
        _recordAttested(_contributor, DATA, SIZE);
        _fund(0, 1 ether);
        _endEpoch();
    }

    /// @notice A malicious contract that is epoch 0's only contributor, with 1 ether to claim.
    function _fundedAttacker(bool swallow) internal returns (ReentrantClaimer attacker) {
        attacker = new ReentrantClaimer(_rewards, swallow);
        vm.prank(address(_timelock));
        _registry.setSubmitter(address(attacker), true);
        _recordAttested(address(attacker), DATA, SIZE);
        _fund(0, 1 ether);
        _endEpoch();
    }

    function _claimIfAny(address who) internal {
        if (_rewards.claimable(0, who) == 0) return;
        vm.prank(who);
        _rewards.claim(0);
    }
}
