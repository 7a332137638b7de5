// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {
    IEAS,
    AttestationRequest,
    AttestationRequestData
} from "@ethereum-attestation-service/eas-contracts/contracts/IEAS.sol";
import {IContributorRewards} from "../../../contracts/interfaces/IContributorRewards.sol";
import {IPolicyRegistry} from "../../../contracts/interfaces/IPolicyRegistry.sol";
import {HandlerBase} from "../../helpers/HandlerBase.sol";

/// @title ContributorRewardsHandler
/// @notice Drives ContributorRewards through random sequences of recording, funding (current, past
/// and future epochs), voiding by the timelock, claiming, rolling over and the passing of time,
/// keeping `ghost_` sums of what went in and what came out, and of the weight still live.
contract ContributorRewardsHandler is HandlerBase {
    /// @dev The largest size the contract stores (4 GiB).
    uint64 internal constant MAX_SIZE = type(uint32).max;
    uint256 internal constant MAX_FUNDING = 100 ether;

    IContributorRewards public immutable rewards;
    IPolicyRegistry public immutable policy;
    IEAS public immutable eas;
    bytes32 public immutable schema;
    address public immutable worker;
    address public immutable attester;
    address public immutable timelock;

    /// @notice The allowlisted contributors the fuzzer picks from; they receive ether only as rewards.
    address[] public contributors;
    /// @notice Every epoch something happened in, so the invariants can check each one.
    uint64[] public touchedEpochs;
    mapping(uint64 epoch => bool touched) private _touched;

    uint256 public ghost_funded;
    uint256 public ghost_claimed;
    uint256 public ghost_rolledOver;
    uint256 public ghost_recorded;
    uint256 public ghost_claims;
    uint256 public ghost_voided;
    /// @dev Voids that succeeded although the contributor had claimed from the epoch, or a
    /// contribution voided twice; withdrawals by someone else than the contributor, or twice.
    uint256 public ghost_voidsAfterClaim;
    /// @notice The recorded, unvoided weight of each epoch, and of each contributor in it.
    mapping(uint64 epoch => uint256 weight) public ghost_liveWeight;
    mapping(uint64 epoch => mapping(address contributor => uint256 weight)) public ghost_liveShare;
    uint256 private _dataNonce;
    bytes32[] private _recorded;
    /// @dev Contributions whose weight left their epoch (voided, or withdrawn while it ran).
    mapping(bytes32 dataHash => bool) private _uncounted;

    constructor(
        IContributorRewards rewards_,
        IPolicyRegistry policy_,
        IEAS eas_,
        bytes32 schema_,
        address worker_,
        address attester_,
        address timelock_,
        address[] memory contributors_
    ) {
        timelock = timelock_;
        rewards = rewards_;
        policy = policy_;
        eas = eas_;
        schema = schema_;
        worker = worker_;
        attester = attester_;
        contributors = contributors_;
    }

    /// @notice How many contributors the fuzzer picks from.
    function contributorCount() external view returns (uint256) {
        return contributors.length;
    }

    /// @notice How many epochs something happened in.
    function touchedEpochCount() external view returns (uint256) {
        return touchedEpochs.length;
    }

    /// @notice A trusted attester attests fresh data to a contributor, and the worker records it.
    function record(uint256 contributorSeed, uint256 size, uint256 weight) external {
        address contributor = _contributor(contributorSeed);
        uint64 size64 = uint64(_bound(size, 1, MAX_SIZE));
        uint64 weight64 = uint64(_bound(weight, 1, size64));
        bytes32 dataHash = keccak256(abi.encode("handler data", ++_dataNonce));
        VM.prank(attester);
        bytes32 uid = eas.attest(
            AttestationRequest({
                schema: schema,
                data: AttestationRequestData({
                    recipient: contributor,
                    expirationTime: 0,
                    revocable: true,
                    refUID: bytes32(0),
                    data: abi.encode(dataHash, size64, "CC0", "handler"),
                    value: 0
                })
            })
        );
        bytes32[] memory uids = new bytes32[](1);
        uids[0] = uid;
        VM.prank(worker);
        rewards.recordContribution(contributor, dataHash, size64, weight64, uids);
        ++ghost_recorded;
        uint64 epoch = policy.currentEpoch();
        ghost_liveWeight[epoch] += weight64;
        ghost_liveShare[epoch][contributor] += weight64;
        _recorded.push(dataHash);
        _touch(epoch);
    }

    /// @notice The timelock (a passed vote) voids a recorded contribution, voided or claimed ones
    /// included: then it must be refused and change nothing.
    function voidContribution(uint256 seed) external {
        if (_recorded.length == 0) return;
        bytes32 dataHash = _recorded[seed % _recorded.length];
        IContributorRewards.Contribution memory c = rewards.contributionOf(dataHash);
        (, uint256 claimedBefore) = rewards.shareOf(c.epoch, c.contributor);
        VM.prank(timelock);
        try rewards.voidContribution(dataHash) {
            ++ghost_voided;
            if (c.voided) ++ghost_voidsAfterClaim;
            // Withdrawn while its epoch ran, its weight is already gone (and nothing was claimed for it).
            if (!_uncounted[dataHash]) {
                if (claimedBefore != 0) ++ghost_voidsAfterClaim;
                _uncount(dataHash, c);
            }
        } catch {} // solhint-disable-line no-empty-blocks
    }

    /// @notice A contributor withdraws one of its contributions (or someone else's, or one twice:
    /// then it must be refused and change nothing).
    function withdrawContribution(uint256 seed, uint256 callerSeed) external {
        if (_recorded.length == 0) return;
        bytes32 dataHash = _recorded[seed % _recorded.length];
        IContributorRewards.Contribution memory c = rewards.contributionOf(dataHash);
        address caller = _contributor(callerSeed);
        VM.prank(caller);
        try rewards.withdrawContribution(dataHash) {
            if (caller != c.contributor || c.withdrawnAt != 0) ++ghost_voidsAfterClaim;
            if (!_uncounted[dataHash] && c.epoch == policy.currentEpoch()) _uncount(dataHash, c);
        } catch {} // solhint-disable-line no-empty-blocks
    }

    function _uncount(bytes32 dataHash, IContributorRewards.Contribution memory c) private {
        _uncounted[dataHash] = true;
        ghost_liveWeight[c.epoch] -= c.weight;
        ghost_liveShare[c.epoch][c.contributor] -= c.weight;
    }

    /// @notice Someone funds an epoch up to two back or one ahead of the current one.
    function fund(uint256 epochSeed, uint256 amount) external {
        uint64 current = policy.currentEpoch();
        uint64 low = current >= 2 ? current - 2 : 0;
        uint64 epoch = uint64(_bound(epochSeed, low, uint256(current) + 1));
        amount = _bound(amount, 1, MAX_FUNDING);
        VM.deal(address(this), amount);
        rewards.fund{value: amount}(epoch);
        ghost_funded += amount;
        _touch(epoch);
    }

    /// @notice A contributor claims an ended epoch, when it has something to claim.
    function claim(uint256 contributorSeed, uint256 epochSeed) external {
        uint64 current = policy.currentEpoch();
        if (current == 0) return;
        address contributor = _contributor(contributorSeed);
        uint64 epoch = uint64(_bound(epochSeed, 0, uint256(current) - 1));
        if (rewards.claimable(epoch, contributor) == 0) return;
        VM.prank(contributor);
        ghost_claimed += rewards.claim(epoch);
        ++ghost_claims;
    }

    /// @notice A contributor claims every ended epoch at once (epochs listed twice on purpose).
    function claimAll(uint256 contributorSeed) external {
        uint64 current = policy.currentEpoch();
        address contributor = _contributor(contributorSeed);
        uint256 total = 0;
        uint64[] memory epochs = new uint64[](2 * uint256(current));
        for (uint64 e = 0; e < current; ++e) {
            total += rewards.claimable(e, contributor);
            epochs[2 * e] = e;
            epochs[2 * e + 1] = e;
        }
        if (total == 0) return;
        VM.prank(contributor);
        ghost_claimed += rewards.claimMany(epochs);
        ++ghost_claims;
    }

    /// @notice Anyone rolls over an ended epoch's pool, when it had no contributions.
    function rollOver(uint256 epochSeed) external {
        uint64 current = policy.currentEpoch();
        if (current == 0) return;
        uint64 epoch = uint64(_bound(epochSeed, 0, uint256(current) - 1));
        (uint256 pool, uint256 totalWeight, ) = rewards.epochTotals(epoch);
        if (pool == 0 || totalWeight != 0) return;
        rewards.rollOver(epoch);
        ghost_rolledOver += pool;
        _touch(current);
    }

    /// @notice Time passes: up to two epochs.
    function warp(uint256 seconds_) external {
        VM.warp(block.timestamp + _bound(seconds_, 1, 2 * uint256(policy.epochLength())));
    }

    function _contributor(uint256 seed) private view returns (address) {
        return contributors[seed % contributors.length];
    }

    function _touch(uint64 epoch) private {
        if (_touched[epoch]) return;
        _touched[epoch] = true;
        touchedEpochs.push(epoch);
    }
}
