// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Eip7702AccountMock} from "../../contracts/mocks/Eip7702AccountMock.sol";
import {IPolicyRegistry} from "../../contracts/interfaces/IPolicyRegistry.sol";
import {IUsageSettlement} from "../../contracts/interfaces/IUsageSettlement.sol";
import {ERC1271Wallet} from "../helpers/ERC1271Wallet.sol";
import {SystemDeployer} from "../helpers/SystemDeployer.sol";

/// @notice Usage settlement with cumulative vouchers and keys: a lane is charged once per total,
/// at most the signed fee, within the consumer's quota summed over workers and keys, only for its
/// own epoch within the window; keys within their caps; fees go to the epoch's reward pool.
/// Every case of the outside review has a test named `test_attack_<case>_<what holds>`.
contract UsageSettlementTest is SystemDeployer {
    /// @dev The order of the secp256k1 group; a valid `s` is at most half of it.
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
    uint256 internal constant APP_KEY = uint256(keccak256("app key"));
    uint256 internal constant DEPOSIT = 1 ether;

    address internal _worker2;
    address internal _appKey;

    function setUp() public {
        _deploySystem();
        _configurePolicy();
        (_worker2, ) = _actor("worker2");
        vm.prank(address(_timelock));
        _registry.setWorker(_worker2, true);
        _deposit(_consumer, DEPOSIT);
        _appKey = vm.addr(APP_KEY);
    }

    // ---------------------------------------------------------------------------------------------
    // The signed messages
    // ---------------------------------------------------------------------------------------------

    function _domainSeparator() internal view returns (bytes32) {
        return
            keccak256(
                abi.encode(
                    EIP712_DOMAIN_TYPEHASH,
                    keccak256("DAO AI Query"),
                    keccak256("2"),
                    block.chainid,
                    address(_settlement)
                )
            );
    }

    function testFuzz_UsageDigestIsEIP712(
        address key,
        uint64 epoch,
        uint64 total,
        uint256 maxFee,
        bytes32 inputHash,
        uint64 deadline
    ) public {
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "Usage(address consumer,address key,address worker,uint64 epoch,uint64 total,uint256 maxFeePerQuery,bytes32 inputHash,uint64 deadline)"
                ),
                _consumer,
                key,
                _worker,
                epoch,
                total,
                maxFee,
                inputHash,
                deadline
            )
        );
        assertEq(
            _settlement.usageDigest(_consumer, key, _worker, epoch, total, maxFee, inputHash, deadline),
            keccak256(abi.encodePacked("\x19\x01", _domainSeparator(), structHash))
        );
    }

    function testFuzz_KeyGrantDigestIsEIP712(
        address worker,
        uint64 maxQueries,
        uint256 maxFee,
        uint64 expiresAt
    ) public {
        IUsageSettlement.KeyGrant memory g = IUsageSettlement.KeyGrant(
            _consumer,
            _appKey,
            worker,
            maxQueries,
            maxFee,
            expiresAt
        );
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "KeyGrant(address consumer,address key,address worker,uint64 maxQueries,uint256 maxFeePerQuery,uint64 expiresAt)"
                ),
                _consumer,
                _appKey,
                worker,
                maxQueries,
                maxFee,
                expiresAt
            )
        );
        assertEq(
            _settlement.keyGrantDigest(g),
            keccak256(abi.encodePacked("\x19\x01", _domainSeparator(), structHash))
        );
    }

    // ---------------------------------------------------------------------------------------------
    // Vouchers
    // ---------------------------------------------------------------------------------------------

    function test_SettleChargesTheLatestTotalOnce() public {
        vm.expectEmit(address(_settlement));
        emit IUsageSettlement.UsageSettled(_consumer, address(0), _worker, 0, 5, 5, 5 * FEE);
        _settle(_signVoucher(_consumerKey, 0, 5, FEE));
        // A later voucher of the same lane charges only the queries above the settled total.
        vm.expectEmit(address(_settlement));
        emit IUsageSettlement.UsageSettled(_consumer, address(0), _worker, 0, 8, 3, 3 * FEE);
        _settle(_signVoucher(_consumerKey, 0, 8, FEE));

        assertEq(uint256(_settlement.settledTotal(_consumer, address(0), _worker, 0)), 8);
        assertEq(uint256(_settlement.usedInEpoch(_consumer, 0)), 8);
        assertEq(_balance(_consumer), DEPOSIT - 8 * FEE);
        (uint256 accrued, bool swept) = _settlement.feesOf(0);
        assertEq(accrued, 8 * FEE);
        assertFalse(swept);
        assertEq(address(_settlement).balance, DEPOSIT);
    }

    function test_SettleManyLanesInOneBatch() public {
        (address other, uint256 otherKey) = _fundedConsumer("other consumer");
        IUsageSettlement.Voucher[] memory batch = new IUsageSettlement.Voucher[](2);
        batch[0] = _signVoucher(_consumerKey, 0, 40, FEE);
        batch[1] = _signVoucher(otherKey, 0, 60, FEE);
        vm.prank(_worker);
        _settlement.settle(batch);
        assertEq(uint256(_settlement.usedInEpoch(_consumer, 0)), 40);
        assertEq(uint256(_settlement.usedInEpoch(other, 0)), 60);
        (uint256 accrued, ) = _settlement.feesOf(0);
        assertEq(accrued, 100 * FEE);
    }

    function test_PreviousEpochSettlesDuringTheWindow() public {
        IUsageSettlement.Voucher memory v = _signVoucher(_consumerKey, 0, 10, FEE);
        _warpToEpoch(1);
        _settle(_signVoucher(_consumerKey, 1, 20, FEE));
        _settle(v);
        assertEq(uint256(_settlement.usedInEpoch(_consumer, 0)), 10);
        assertEq(uint256(_settlement.usedInEpoch(_consumer, 1)), 20);
        // Two epochs later epoch 0's slots are reused: its figures then live in the events only.
        _warpToEpoch(2);
        _settle(_signVoucher(_consumerKey, 2, 1, FEE));
        assertEq(uint256(_settlement.usedInEpoch(_consumer, 0)), 0);
        assertEq(uint256(_settlement.usedInEpoch(_consumer, 1)), 20);
        assertEq(uint256(_settlement.settledTotal(_consumer, address(0), _worker, 2)), 1);
    }

    function test_SettlementAllowedWhileKillSwitchEngaged() public {
        IUsageSettlement.Voucher memory v = _signVoucher(_consumerKey, 0, 10, FEE);
        vm.prank(_guardian);
        _registry.engageKillSwitch("incident");
        _settle(v);
        assertEq(uint256(_settlement.usedInEpoch(_consumer, 0)), 10);
    }

    function test_SafeConsumerSettlesThroughErc1271() public {
        (ERC1271Wallet wallet, uint256 ownerKey) = _walletConsumer();
        IUsageSettlement.Voucher memory v = _signVoucher(ownerKey, 0, 3, FEE);
        v.consumer = address(wallet);
        v.signature = _sign(ownerKey, _voucherDigest(v, _worker));
        _settle(v);
        assertEq(uint256(_settlement.usedInEpoch(address(wallet), 0)), 3);
        assertEq(_balance(address(wallet)), DEPOSIT - 3 * FEE);
    }

    // ---------------------------------------------------------------------------------------------
    // The review's cases, and the other attacks on vouchers
    // ---------------------------------------------------------------------------------------------

    function test_attack_feeRaisedAfterSigning_chargesAtMostSignedMax() public {
        IUsageSettlement.Voucher memory v = _signVoucher(_consumerKey, 0, 1, FEE);
        _passPolicy(abi.encodeCall(IPolicyRegistry.setQueryFee, (1 ether)));
        _settle(v);
        // The review's case: a 0.001 ETH query cost the whole 1 ETH deposit.
        assertEq(_balance(_consumer), DEPOSIT - FEE);
    }

    function test_attack_feeRaisedAfterSigning_lowerFeeNowIsWhatIsCharged() public {
        IUsageSettlement.Voucher memory v = _signVoucher(_consumerKey, 0, 4, 10 * FEE);
        _settle(v);
        assertEq(_balance(_consumer), DEPOSIT - 4 * FEE);
    }

    function test_attack_eip7702DelegatedEoa_settlesWithItsPlainSignature() public {
        IUsageSettlement.Voucher memory v = _signVoucher(_consumerKey, 0, 2, FEE);
        Eip7702AccountMock delegate = new Eip7702AccountMock();
        // The consumer's EOA delegates to account code (an EIP-7702 designator): it has code now.
        vm.etch(_consumer, abi.encodePacked(hex"ef0100", address(delegate)));
        assertGt(_consumer.code.length, 0);
        bytes32 digest = _voucherDigest(v, _worker);
        // The review's case: a code-first check asks only ERC-1271, and the account says no.
        assertFalse(SignatureChecker.isValidSignatureNow(_consumer, digest, v.signature));
        _settle(v);
        assertEq(_balance(_consumer), DEPOSIT - 2 * FEE);
    }

    function test_attack_staleEpochQuotaReplayed_refusedOutsideItsWindow() public {
        // The review's case: vouchers of epochs 0 to 2 (100 each, unused then) settled in epoch 5.
        IUsageSettlement.Voucher[3] memory stale;
        for (uint64 e = 0; e < 3; ++e) {
            _warpToEpoch(e);
            stale[e] = _signVoucher(_consumerKey, e, QUOTA, FEE);
            // A far deadline, so that the window alone is what refuses them.
            stale[e].deadline = uint64(block.timestamp + 30 days);
            stale[e].signature = _sign(_consumerKey, _voucherDigest(stale[e], _worker));
        }
        _warpToEpoch(5);
        for (uint64 e = 0; e < 3; ++e) {
            _expectRefused(
                stale[e],
                abi.encodeWithSelector(
                    IUsageSettlement.UsageSettlementWindowClosed.selector,
                    e,
                    _registry.epochEnd(e) + EPOCH_LENGTH
                )
            );
        }
        // Nor can an epoch-5 voucher carry 300 queries against a quota of 100.
        _expectRefused(
            _signVoucher(_consumerKey, 5, 3 * QUOTA, FEE),
            abi.encodeWithSelector(IUsageSettlement.UsageExceedsQuota.selector, _consumer, 5, 3 * QUOTA, QUOTA)
        );
    }

    function test_attack_staleEpochQuotaReplayed_windowClosesOneEpochAfter() public {
        IUsageSettlement.Voucher memory v = _signVoucher(_consumerKey, 0, 1, FEE);
        vm.warp(_registry.epochEnd(0) + EPOCH_LENGTH - 1);
        _settle(v);
        IUsageSettlement.Voucher memory later = _signVoucher(_consumerKey, 0, 2, FEE);
        later.deadline = v.deadline;
        later.signature = _sign(_consumerKey, _voucherDigest(later, _worker));
        uint64 closesAt = _registry.epochEnd(0) + EPOCH_LENGTH;
        vm.warp(closesAt);
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageSettlementWindowClosed.selector, 0, closesAt));
        _settle(later);
        assertEq(_balance(_consumer), DEPOSIT - FEE);
    }

    function testFuzz_RevertIf_attack_futureEpoch_refused(uint64 epoch) public {
        epoch = uint64(_bound(epoch, 1, type(uint32).max));
        IUsageSettlement.Voucher memory v = _signVoucher(_consumerKey, epoch, 1, FEE);
        v.deadline = uint64(_registry.epochGenesis() + uint256(epoch) * EPOCH_LENGTH);
        v.signature = _sign(_consumerKey, _voucherDigest(v, _worker));
        _expectRefused(v, abi.encodeWithSelector(IUsageSettlement.UsageFutureEpoch.selector, epoch, 0));
    }

    function test_attack_quotaSummedOverWorkersAndKeys_overrunRefused() public {
        _settle(_signVoucher(_consumerKey, 0, 60, FEE));
        // Another worker's lane of the same consumer and epoch counts against the same quota.
        IUsageSettlement.Voucher memory v = _signVoucher(_consumerKey, 0, 41, FEE);
        v.signature = _sign(_consumerKey, _voucherDigest(v, _worker2));
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageExceedsQuota.selector, _consumer, 0, 101, QUOTA));
        vm.prank(_worker2);
        _settlement.settle(_vouchers(v));
        // And so does a key's lane.
        (IUsageSettlement.KeyGrant memory g, bytes memory sig) = _signGrant(_consumerKey, _appKey, 1000, FEE);
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageExceedsQuota.selector, _consumer, 0, 101, QUOTA));
        _settleKeys(_bearerSettlement(g, sig, 0, 41));
        // Exactly the quota settles.
        v = _signVoucher(_consumerKey, 0, 40, FEE);
        v.signature = _sign(_consumerKey, _voucherDigest(v, _worker2));
        vm.prank(_worker2);
        _settlement.settle(_vouchers(v));
        assertEq(uint256(_settlement.usedInEpoch(_consumer, 0)), QUOTA);
    }

    function test_attack_quotaLoweredAfterServing_overrunRefused() public {
        IUsageSettlement.Voucher memory v = _signVoucher(_consumerKey, 0, 50, FEE);
        _passPolicy(abi.encodeCall(IPolicyRegistry.setQuota, (_consumer, 10)));
        _expectRefused(v, abi.encodeWithSelector(IUsageSettlement.UsageExceedsQuota.selector, _consumer, 0, 50, 10));
    }

    function test_attack_settleAfterDeadline_refusedPastTheGrace() public {
        IUsageSettlement.Voucher memory v = _signVoucher(_consumerKey, 0, 3, FEE);
        // Within the grace (an epoch plus the window after the deadline) it settles...
        vm.warp(uint256(v.deadline) + 1);
        uint256 snapshot = VM_EXT.snapshotState();
        _settle(v);
        assertEq(uint256(_settlement.usedInEpoch(_consumer, 0)), 3);
        VM_EXT.revertToState(snapshot);
        // ...after it, never.
        vm.warp(uint256(v.deadline) + 2 * EPOCH_LENGTH + 1);
        _expectRefused(v, abi.encodeWithSelector(IUsageSettlement.UsageVoucherExpired.selector, v.deadline, 0));
    }

    function test_attack_settleAfterDeadline_deadlineBeforeItsEpochRefused() public {
        _warpToEpoch(1);
        IUsageSettlement.Voucher memory v = _signVoucher(_consumerKey, 1, 3, FEE);
        v.deadline = _registry.epochEnd(0) - 1;
        v.signature = _sign(_consumerKey, _voucherDigest(v, _worker));
        _expectRefused(v, abi.encodeWithSelector(IUsageSettlement.UsageVoucherExpired.selector, v.deadline, 1));
    }

    function test_attack_laneChargedTwice_refused() public {
        IUsageSettlement.Voucher memory v = _signVoucher(_consumerKey, 0, 5, FEE);
        _settle(v);
        vm.expectRevert(
            abi.encodeWithSelector(IUsageSettlement.UsageNothingToSettle.selector, _consumer, address(0), 0, 5, 5)
        );
        _settle(v);
        // An older (lower) voucher of the lane charges nothing either.
        IUsageSettlement.Voucher memory older = _signVoucher(_consumerKey, 0, 3, FEE);
        vm.expectRevert(
            abi.encodeWithSelector(IUsageSettlement.UsageNothingToSettle.selector, _consumer, address(0), 0, 3, 5)
        );
        _settle(older);
        assertEq(_balance(_consumer), DEPOSIT - 5 * FEE);
    }

    function test_attack_laneChargedTwice_sameLaneTwiceInABatch() public {
        IUsageSettlement.Voucher[] memory batch = new IUsageSettlement.Voucher[](2);
        batch[0] = _signVoucher(_consumerKey, 0, 5, FEE);
        batch[1] = batch[0];
        vm.expectRevert(
            abi.encodeWithSelector(IUsageSettlement.UsageNothingToSettle.selector, _consumer, address(0), 0, 5, 5)
        );
        vm.prank(_worker);
        _settlement.settle(batch);
        _assertNothingSettled();
    }

    function test_attack_voucherReplayedAtAnotherWorker_refused() public {
        IUsageSettlement.Voucher memory v = _signVoucher(_consumerKey, 0, 5, FEE);
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageInvalidSignature.selector, _consumer));
        vm.prank(_worker2);
        _settlement.settle(_vouchers(v));
        _assertNothingSettled();
    }

    function testFuzz_RevertIf_attack_signedFieldChanged_refused(uint8 field, uint64 delta) public {
        delta = uint64(_bound(delta, 1, 1000));
        IUsageSettlement.Voucher memory v = _signVoucher(_consumerKey, 0, 5, FEE);
        field = uint8(_bound(field, 0, 3));
        if (field == 0) v.total += delta;
        else if (field == 1) v.maxFeePerQuery += delta;
        else if (field == 2) v.inputHash = keccak256(abi.encode(v.inputHash, delta));
        else v.deadline += delta;
        _expectRefused(v, abi.encodeWithSelector(IUsageSettlement.UsageInvalidSignature.selector, _consumer));
    }

    function test_attack_signatureMalleated_refused() public {
        IUsageSettlement.Voucher memory v = _signVoucher(_consumerKey, 0, 5, FEE);
        (bytes32 r, bytes32 s, uint8 recovery) = _split(v.signature);
        // The same signature's twin (n - s, other v) recovers the same key, and is refused.
        v.signature = abi.encodePacked(r, bytes32(SECP256K1_N - uint256(s)), recovery == 27 ? uint8(28) : uint8(27));
        _expectRefused(v, abi.encodeWithSelector(IUsageSettlement.UsageInvalidSignature.selector, _consumer));
    }

    function test_attack_outsiderSignsForTheConsumer_refused() public {
        (, uint256 outsiderKey) = _actor("outsider");
        IUsageSettlement.Voucher memory v = _signVoucher(outsiderKey, 0, 5, FEE);
        v.consumer = _consumer;
        v.signature = _sign(outsiderKey, _voucherDigest(v, _worker));
        _expectRefused(v, abi.encodeWithSelector(IUsageSettlement.UsageInvalidSignature.selector, _consumer));
    }

    function test_attack_voucherCancelled_chargedAtMostAboveTotalAfterGrace() public {
        IUsageSettlement.Voucher memory v = _signVoucher(_consumerKey, 0, 50, FEE);
        vm.expectEmit(address(_settlement));
        emit IUsageSettlement.VouchersCancelled(_consumer, _worker, 0, 20, uint64(block.timestamp) + 1 hours);
        vm.prank(_consumer);
        _settlement.cancelVouchers(_worker, 0, 20);
        (uint64 aboveTotal, uint64 effectiveAt) = _settlement.cancellation(_consumer, _worker, 0);
        assertEq(uint256(aboveTotal), 20);
        assertEq(uint256(effectiveAt), block.timestamp + 1 hours);

        // Within the grace, a worker that served before it saw the cancellation is paid in full.
        uint256 snapshot = VM_EXT.snapshotState();
        _settle(v);
        assertEq(_balance(_consumer), DEPOSIT - 50 * FEE);
        VM_EXT.revertToState(snapshot);

        // After it, totals above are charged as `aboveTotal`.
        vm.warp(block.timestamp + 1 hours);
        vm.expectEmit(address(_settlement));
        emit IUsageSettlement.UsageSettled(_consumer, address(0), _worker, 0, 20, 20, 20 * FEE);
        _settle(v);
        assertEq(_balance(_consumer), DEPOSIT - 20 * FEE);
        // Nothing more is charged for that lane.
        IUsageSettlement.Voucher memory higher = _signVoucher(_consumerKey, 0, 60, FEE);
        vm.expectRevert(
            abi.encodeWithSelector(IUsageSettlement.UsageNothingToSettle.selector, _consumer, address(0), 0, 20, 20)
        );
        _settle(higher);
    }

    function test_attack_voucherCancelled_otherWorkersUnaffected() public {
        vm.prank(_consumer);
        _settlement.cancelVouchers(_worker, 0, 0);
        vm.warp(block.timestamp + 1 hours);
        IUsageSettlement.Voucher memory v = _signVoucher(_consumerKey, 0, 5, FEE);
        v.signature = _sign(_consumerKey, _voucherDigest(v, _worker2));
        vm.prank(_worker2);
        _settlement.settle(_vouchers(v));
        assertEq(uint256(_settlement.usedInEpoch(_consumer, 0)), 5);
    }

    function test_attack_withdrawBeforeBatchLands_withdrawalWaitsForTheWindow() public {
        // The consumer is served in epoch 0, then asks for its whole deposit back.
        IUsageSettlement.Voucher memory v = _signVoucher(_consumerKey, 0, 30, FEE);
        vm.prank(_consumer);
        _settlement.requestWithdrawal(DEPOSIT);
        (, , uint64 unlocksAt) = _settlement.accountOf(_consumer);
        assertEq(uint256(unlocksAt), _registry.epochEnd(0) + EPOCH_LENGTH);
        // The review's case: the withdrawal unlocked before the worker's batch landed.
        _warpToEpoch(1);
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageWithdrawalLocked.selector, unlocksAt));
        vm.prank(_consumer);
        _settlement.withdraw();
        // The batch lands in the window, and the withdrawal pays what is left.
        vm.warp(unlocksAt - 1);
        _settle(v);
        vm.warp(unlocksAt);
        vm.prank(_consumer);
        assertEq(_settlement.withdraw(), DEPOSIT - 30 * FEE);
        (uint256 accrued, ) = _settlement.feesOf(0);
        assertEq(accrued, 30 * FEE);
    }

    function test_attack_withdrawBeforeBatchLands_killSwitchPausesNeither() public {
        IUsageSettlement.Voucher memory v = _signVoucher(_consumerKey, 0, 30, FEE);
        vm.prank(_consumer);
        _settlement.requestWithdrawal(DEPOSIT);
        vm.prank(_guardian);
        _registry.engageKillSwitch("incident");
        // The review's case: withdrawals went on during the kill switch while settlement waited.
        _warpToEpoch(1);
        _settle(v);
        _warpToEpoch(2);
        vm.prank(_consumer);
        assertEq(_settlement.withdraw(), DEPOSIT - 30 * FEE);
    }

    function test_attack_insufficientDeposit_refused() public {
        (address poor, uint256 poorKey) = _actor("poor consumer");
        vm.prank(address(_timelock));
        _registry.setQuota(poor, QUOTA);
        _deposit(poor, 2 * FEE);
        IUsageSettlement.Voucher memory v = _signVoucher(poorKey, 0, 3, FEE);
        vm.expectRevert(
            abi.encodeWithSelector(IUsageSettlement.UsageInsufficientDeposit.selector, poor, 2 * FEE, 3 * FEE)
        );
        _settle(v);
    }

    function test_attack_absurdFeeOverflow_readsAsInsufficientDeposit() public {
        _passPolicy(abi.encodeCall(IPolicyRegistry.setQueryFee, (type(uint256).max)));
        IUsageSettlement.Voucher memory v = _signVoucher(_consumerKey, 0, 2, type(uint256).max);
        vm.expectRevert(
            abi.encodeWithSelector(
                IUsageSettlement.UsageInsufficientDeposit.selector,
                _consumer,
                DEPOSIT,
                type(uint256).max
            )
        );
        _settle(v);
    }

    function test_attack_oneBadEntry_batchChangesNothing() public {
        (, uint256 otherKey) = _fundedConsumer("other consumer");
        IUsageSettlement.Voucher[] memory batch = new IUsageSettlement.Voucher[](2);
        batch[0] = _signVoucher(_consumerKey, 0, 5, FEE);
        batch[1] = _signVoucher(otherKey, 0, 5, FEE);
        batch[1].total = 6; // Not what was signed.
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageInvalidSignature.selector, vm.addr(otherKey)));
        vm.prank(_worker);
        _settlement.settle(batch);
        _assertNothingSettled();
    }

    function testFuzz_RevertIf_attack_callerNotWorker_refused(address caller) public {
        vm.assume(caller != _worker && caller != _worker2);
        IUsageSettlement.Voucher memory v = _signVoucher(_consumerKey, 0, 5, FEE);
        // Signed for this caller's lane, so that only the authorisation is wrong.
        v.signature = _sign(_consumerKey, _voucherDigest(v, caller));
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageNotWorker.selector, caller));
        vm.prank(caller);
        _settlement.settle(_vouchers(v));
        _assertNothingSettled();
    }

    function test_RevertIf_EmptyBatch() public {
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageEmptyBatch.selector));
        vm.prank(_worker);
        _settlement.settle(new IUsageSettlement.Voucher[](0));
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageEmptyBatch.selector));
        vm.prank(_worker);
        _settlement.settleKeys(new IUsageSettlement.KeySettlement[](0));
    }

    // ---------------------------------------------------------------------------------------------
    // Keys
    // ---------------------------------------------------------------------------------------------

    function test_BearerKeySettlesTheWorkersCount() public {
        (IUsageSettlement.KeyGrant memory g, bytes memory sig) = _signGrant(_consumerKey, _appKey, 1000, FEE);
        vm.expectEmit(address(_settlement));
        emit IUsageSettlement.UsageSettled(_consumer, _appKey, _worker, 0, 30, 30, 30 * FEE);
        _settleKeys(_bearerSettlement(g, sig, 0, 30));
        _settleKeys(_bearerSettlement(g, sig, 0, 45));
        (uint64 used, uint64 revokedAt) = _settlement.keyState(_consumer, _appKey);
        assertEq(uint256(used), 45);
        assertEq(uint256(revokedAt), 0);
        assertEq(uint256(_settlement.settledTotal(_consumer, _appKey, _worker, 0)), 45);
        assertEq(uint256(_settlement.usedInEpoch(_consumer, 0)), 45);
        assertEq(_balance(_consumer), DEPOSIT - 45 * FEE);
    }

    function test_SessionKeySettlesItsSignedUsage() public {
        (IUsageSettlement.KeyGrant memory g, bytes memory sig) = _signGrant(_consumerKey, _appKey, 1000, FEE);
        IUsageSettlement.KeySettlement[] memory s = _sessionSettlement(g, sig, 0, 12, APP_KEY);
        _settleKeys(s);
        (uint64 used, ) = _settlement.keyState(_consumer, _appKey);
        assertEq(uint256(used), 12);
    }

    function test_SafeConsumerGrantsAKeyThroughErc1271() public {
        (ERC1271Wallet wallet, uint256 ownerKey) = _walletConsumer();
        (IUsageSettlement.KeyGrant memory g, ) = _signGrant(ownerKey, _appKey, 1000, FEE);
        g.consumer = address(wallet);
        bytes memory sig = _sign(ownerKey, _settlement.keyGrantDigest(g));
        _settleKeys(_bearerSettlement(g, sig, 0, 7));
        assertEq(_balance(address(wallet)), DEPOSIT - 7 * FEE);
    }

    function test_attack_stolenKey_spendsAtMostItsCap() public {
        (IUsageSettlement.KeyGrant memory g, bytes memory sig) = _signGrant(_consumerKey, _appKey, 50, FEE);
        _settleKeys(_bearerSettlement(g, sig, 0, 30));
        // The cap counts over epochs and workers: 30 + 21 at another worker next epoch is too many.
        _warpToEpoch(1);
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageKeyCapExceeded.selector, _appKey, 51, 50));
        vm.prank(_worker2);
        _settlement.settleKeys(_bearerSettlement(g, sig, 1, 21));
        vm.prank(_worker2);
        _settlement.settleKeys(_bearerSettlement(g, sig, 1, 20));
        (uint64 used, ) = _settlement.keyState(_consumer, _appKey);
        assertEq(uint256(used), 50);
        // At most its cap times its fee, whatever the workers claim.
        assertEq(_balance(_consumer), DEPOSIT - 50 * FEE);
    }

    function test_attack_feeRaisedAfterSigning_keyChargesAtMostItsGrantMax() public {
        (IUsageSettlement.KeyGrant memory g, bytes memory sig) = _signGrant(_consumerKey, _appKey, 1000, FEE);
        _passPolicy(abi.encodeCall(IPolicyRegistry.setQueryFee, (1 ether)));
        _settleKeys(_bearerSettlement(g, sig, 0, 10));
        assertEq(_balance(_consumer), DEPOSIT - 10 * FEE);
    }

    function test_attack_keyRevoked_settlesOnlyWithinTheGrace() public {
        (IUsageSettlement.KeyGrant memory g, bytes memory sig) = _signGrant(_consumerKey, _appKey, 1000, FEE);
        vm.expectEmit(address(_settlement));
        emit IUsageSettlement.KeyRevoked(_consumer, _appKey, uint64(block.timestamp));
        vm.prank(_consumer);
        _settlement.revokeKey(_appKey);
        uint64 revokedAt = uint64(block.timestamp);
        // Served before the worker saw the revocation: paid.
        _settleKeys(_bearerSettlement(g, sig, 0, 10));
        vm.warp(block.timestamp + 1 hours);
        vm.expectRevert(
            abi.encodeWithSelector(IUsageSettlement.UsageKeyRevoked.selector, _consumer, _appKey, revokedAt)
        );
        _settleKeys(_bearerSettlement(g, sig, 0, 20));
        (uint64 used, uint64 revoked) = _settlement.keyState(_consumer, _appKey);
        assertEq(uint256(used), 10);
        assertEq(uint256(revoked), revokedAt);
        // A second revocation keeps the first time.
        vm.expectRevert(
            abi.encodeWithSelector(IUsageSettlement.UsageKeyRevoked.selector, _consumer, _appKey, revokedAt)
        );
        vm.prank(_consumer);
        _settlement.revokeKey(_appKey);
    }

    function test_attack_keyRevoked_newGrantOfTheSameKeyStillRefused() public {
        vm.prank(_consumer);
        _settlement.revokeKey(_appKey);
        uint64 revokedAt = uint64(block.timestamp);
        vm.warp(block.timestamp + 1 hours);
        (IUsageSettlement.KeyGrant memory g, bytes memory sig) = _signGrant(_consumerKey, _appKey, 5000, FEE);
        vm.expectRevert(
            abi.encodeWithSelector(IUsageSettlement.UsageKeyRevoked.selector, _consumer, _appKey, revokedAt)
        );
        _settleKeys(_bearerSettlement(g, sig, 0, 5));
    }

    function test_attack_keyRevokedByAnother_doesNotRevokeTheConsumersKey() public {
        (IUsageSettlement.KeyGrant memory g, bytes memory sig) = _signGrant(_consumerKey, _appKey, 1000, FEE);
        vm.prank(_outsider);
        _settlement.revokeKey(_appKey);
        vm.warp(block.timestamp + 1 hours + 1);
        _settleKeys(_bearerSettlement(g, sig, 0, 10));
        (, uint64 revokedAt) = _settlement.keyState(_consumer, _appKey);
        assertEq(uint256(revokedAt), 0);
    }

    function test_attack_keyExpired_refused() public {
        (IUsageSettlement.KeyGrant memory g, ) = _signGrant(_consumerKey, _appKey, 1000, FEE);
        g.expiresAt = _registry.epochEnd(0) - 10;
        bytes memory sig = _sign(_consumerKey, _settlement.keyGrantDigest(g));
        // Usage in epoch 1, which began after the expiry, is refused...
        _warpToEpoch(1);
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageKeyExpired.selector, _appKey, g.expiresAt));
        _settleKeys(_bearerSettlement(g, sig, 1, 5));
        // ...epoch 0's usage settles within the window after the expiry...
        _settleKeys(_bearerSettlement(g, sig, 0, 5));
        // ...and not after it.
        vm.warp(uint256(g.expiresAt) + EPOCH_LENGTH);
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageKeyExpired.selector, _appKey, g.expiresAt));
        _settleKeys(_bearerSettlement(g, sig, 0, 6));
    }

    function test_attack_keyUsedAtAnotherWorker_refused() public {
        (IUsageSettlement.KeyGrant memory g, ) = _signGrant(_consumerKey, _appKey, 1000, FEE);
        g.worker = _worker;
        bytes memory sig = _sign(_consumerKey, _settlement.keyGrantDigest(g));
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageKeyWrongWorker.selector, _appKey, _worker));
        vm.prank(_worker2);
        _settlement.settleKeys(_bearerSettlement(g, sig, 0, 5));
        _assertNothingSettled();
    }

    function test_attack_forgedGrant_refused() public {
        (, uint256 outsiderKey) = _actor("outsider");
        (IUsageSettlement.KeyGrant memory g, ) = _signGrant(outsiderKey, _appKey, 1000, FEE);
        g.consumer = _consumer;
        bytes memory sig = _sign(outsiderKey, _settlement.keyGrantDigest(g));
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageInvalidSignature.selector, _consumer));
        _settleKeys(_bearerSettlement(g, sig, 0, 5));
        _assertNothingSettled();
    }

    function test_attack_grantRaisedAfterVerification_checkedAgain() public {
        (IUsageSettlement.KeyGrant memory g, bytes memory sig) = _signGrant(_consumerKey, _appKey, 10, FEE);
        _settleKeys(_bearerSettlement(g, sig, 0, 5));
        // The grant's signature was verified once and remembered: an altered grant is not the same.
        g.maxQueries = 1000;
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageInvalidSignature.selector, _consumer));
        _settleKeys(_bearerSettlement(g, sig, 0, 50));
        g.maxQueries = 10;
        g.maxFeePerQuery = 1 ether;
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageInvalidSignature.selector, _consumer));
        _settleKeys(_bearerSettlement(g, sig, 0, 6));
    }

    function test_attack_sessionKeySignatureForged_refused() public {
        (IUsageSettlement.KeyGrant memory g, bytes memory sig) = _signGrant(_consumerKey, _appKey, 1000, FEE);
        // Signed by another key than the granted one.
        IUsageSettlement.KeySettlement[] memory s = _sessionSettlement(g, sig, 0, 12, uint256(keccak256("thief")));
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageInvalidKeySignature.selector, _appKey));
        _settleKeys(s);
        // The key's genuine Usage, with the total raised after signing.
        s = _sessionSettlement(g, sig, 0, 12, APP_KEY);
        s[0].total = 13;
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageInvalidKeySignature.selector, _appKey));
        _settleKeys(s);
        _assertNothingSettled();
    }

    function test_attack_settleAfterDeadline_sessionKeyPastTheGrace() public {
        (IUsageSettlement.KeyGrant memory g, bytes memory sig) = _signGrant(_consumerKey, _appKey, 1000, FEE);
        g.expiresAt = uint64(block.timestamp + 30 days);
        sig = _sign(_consumerKey, _settlement.keyGrantDigest(g));
        IUsageSettlement.KeySettlement[] memory s = _sessionSettlement(g, sig, 0, 12, APP_KEY);
        s[0].deadline = uint64(_registry.epochGenesis()) - 1;
        s[0].keySignature = _sign(
            APP_KEY,
            _settlement.usageDigest(_consumer, _appKey, _worker, 0, 12, FEE, s[0].inputHash, s[0].deadline)
        );
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageVoucherExpired.selector, s[0].deadline, 0));
        _settleKeys(s);
    }

    function test_attack_keyGrantForTheConsumersOwnLane_refused() public {
        (IUsageSettlement.KeyGrant memory g, bytes memory sig) = _signGrant(_consumerKey, address(0), 1000, FEE);
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageInvalidKeyGrant.selector, _consumer, address(0)));
        _settleKeys(_bearerSettlement(g, sig, 0, 5));
    }

    // ---------------------------------------------------------------------------------------------
    // Fees
    // ---------------------------------------------------------------------------------------------

    function test_FeesSweptToTheEpochsPoolOnceTheWindowCloses() public {
        _settle(_signVoucher(_consumerKey, 0, 10, FEE));
        uint64 closesAt = _registry.epochEnd(0) + EPOCH_LENGTH;
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageSettlementWindowOpen.selector, 0, closesAt));
        _settlement.sweepFees(0);

        vm.warp(closesAt);
        vm.expectEmit(address(_settlement));
        emit IUsageSettlement.FeesSwept(0, 10 * FEE);
        vm.prank(_outsider);
        _settlement.sweepFees(0);
        assertEq(_pool(0), 10 * FEE);
        (uint256 accrued, bool swept) = _settlement.feesOf(0);
        assertEq(accrued, 10 * FEE);
        assertTrue(swept);
        assertEq(address(_settlement).balance, DEPOSIT - 10 * FEE);

        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageFeesAlreadySwept.selector, 0));
        _settlement.sweepFees(0);
        // A later epoch on the same pot does not sweep epoch 0 again.
        _settle(_signVoucher(_consumerKey, 2, 1, FEE));
        assertEq(_pool(0), 10 * FEE);
    }

    function test_UnsweptFeesForwardedWhenTheirPotIsReused() public {
        _settle(_signVoucher(_consumerKey, 0, 10, FEE));
        _warpToEpoch(2);
        vm.expectEmit(address(_settlement));
        emit IUsageSettlement.FeesSwept(0, 10 * FEE);
        _settle(_signVoucher(_consumerKey, 2, 1, FEE));
        assertEq(_pool(0), 10 * FEE);
        (uint256 accrued, bool swept) = _settlement.feesOf(0);
        assertEq(accrued, 10 * FEE);
        assertTrue(swept);
        (accrued, swept) = _settlement.feesOf(2);
        assertEq(accrued, FEE);
        assertFalse(swept);
    }

    function test_EpochWithoutFeesSweepsNothing() public {
        _warpToEpoch(3);
        vm.expectEmit(address(_settlement));
        emit IUsageSettlement.FeesSwept(1, 0);
        _settlement.sweepFees(1);
        (uint256 received, ) = _rewards.totals();
        assertEq(received, 0);
    }

    function test_RevertIf_FeesOfAnEpochFarAheadSwept() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IUsageSettlement.UsageSettlementWindowOpen.selector,
                type(uint64).max,
                type(uint64).max
            )
        );
        _settlement.sweepFees(type(uint64).max);
    }

    function test_SettlementWindowIsOneEpoch() public {
        assertEq(uint256(_settlement.settlementWindow()), EPOCH_LENGTH);
        assertEq(uint256(_settlement.CANCEL_GRACE()), 1 hours);
    }

    // ---------------------------------------------------------------------------------------------
    // Deposits and withdrawals
    // ---------------------------------------------------------------------------------------------

    function testFuzz_DepositForSomeoneElse(uint256 amount) public {
        amount = _bound(amount, 1, 1e30);
        vm.deal(_outsider, amount);
        vm.expectEmit(address(_settlement));
        emit IUsageSettlement.Deposited(_consumer, _outsider, amount);
        vm.prank(_outsider);
        _settlement.deposit{value: amount}(_consumer);
        assertEq(_balance(_consumer), DEPOSIT + amount);
    }

    function test_RevertIf_DepositZero() public {
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageInvalidAmount.selector, 0));
        _settlement.deposit(_consumer);
    }

    function testFuzz_WithdrawalLockedUntilTheWindowCloses(uint256 wait) public {
        uint64 unlocksAt = _registry.epochEnd(_registry.currentEpoch()) + EPOCH_LENGTH;
        vm.expectEmit(address(_settlement));
        emit IUsageSettlement.WithdrawalRequested(_consumer, 0.4 ether, unlocksAt);
        vm.prank(_consumer);
        _settlement.requestWithdrawal(0.4 ether);

        wait = _bound(wait, 0, unlocksAt - block.timestamp - 1);
        vm.warp(block.timestamp + wait);
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageWithdrawalLocked.selector, unlocksAt));
        vm.prank(_consumer);
        _settlement.withdraw();

        vm.warp(unlocksAt);
        vm.expectEmit(address(_settlement));
        emit IUsageSettlement.Withdrawn(_consumer, 0.4 ether);
        vm.prank(_consumer);
        assertEq(_settlement.withdraw(), 0.4 ether);
        assertEq(_consumer.balance, 0.4 ether);
        (uint256 balance, uint256 pending, uint64 unlocks) = _settlement.accountOf(_consumer);
        assertEq(balance, 0.6 ether);
        assertEq(pending, 0);
        assertEq(uint256(unlocks), 0);
    }

    function test_RevertIf_WithdrawnWithoutRequest() public {
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageWithdrawalLocked.selector, 0));
        vm.prank(_consumer);
        _settlement.withdraw();
    }

    function test_RevertIf_WithdrawnTwice() public {
        vm.prank(_consumer);
        _settlement.requestWithdrawal(0.1 ether);
        vm.warp(block.timestamp + 2 * EPOCH_LENGTH);
        vm.prank(_consumer);
        _settlement.withdraw();
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageWithdrawalLocked.selector, 0));
        vm.prank(_consumer);
        _settlement.withdraw();
        assertEq(_consumer.balance, 0.1 ether);
    }

    function testFuzz_RevertIf_WithdrawalRequestInvalid(uint256 amount) public {
        vm.assume(amount == 0 || amount > DEPOSIT);
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageInvalidAmount.selector, amount));
        vm.prank(_consumer);
        _settlement.requestWithdrawal(amount);
    }

    function test_RevertIf_WithdrawalTransferFails() public {
        // This test contract cannot receive ether.
        vm.deal(address(this), 1 ether);
        _settlement.deposit{value: 1 ether}(address(this));
        _settlement.requestWithdrawal(1 ether);
        vm.warp(block.timestamp + 2 * EPOCH_LENGTH);
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageTransferFailed.selector, address(this), 1 ether));
        _settlement.withdraw();
        (uint256 balance, uint256 pending, ) = _settlement.accountOf(address(this));
        assertEq(balance, 1 ether);
        assertEq(pending, 1 ether);
    }

    function test_TierMemberSettlesWithItsTiersQuota() public {
        (address member, uint256 memberKey) = _actor("tier member");
        vm.prank(address(_timelock));
        _registry.setTier(0, 5, 0.01 ether, true, 0);
        vm.deal(member, 0.01 ether);
        vm.prank(member);
        _registry.joinTier{value: 0.01 ether}(0, 1);
        _deposit(member, DEPOSIT);
        _settle(_signVoucher(memberKey, 0, 5, FEE));
        // Its membership covers epoch 0 only.
        _warpToEpoch(1);
        IUsageSettlement.Voucher memory next = _signVoucher(memberKey, 1, 1, FEE);
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageExceedsQuota.selector, member, 1, 1, 0));
        _settle(next);
    }

    /// @dev Re-joining the same tier right after the membership ended must not erase the quota of
    /// the epoch it ended with, whose usage is settled during the next one.
    function test_attack_rejoinRightAfterExpiry_lastEpochStillSettles() public {
        (address member, uint256 memberKey) = _actor("tier member");
        vm.prank(address(_timelock));
        _registry.setTier(0, 5, 0.01 ether, true, 0);
        vm.deal(member, 0.01 ether);
        vm.prank(member);
        _registry.joinTier{value: 0.01 ether}(0, 1);
        _deposit(member, DEPOSIT);
        IUsageSettlement.Voucher memory served = _signVoucher(memberKey, 0, 5, FEE);
        // Epoch 0's usage is settled during epoch 1, after the member joined again.
        _warpToEpoch(1);
        vm.deal(member, 0.01 ether);
        vm.prank(member);
        _registry.joinTier{value: 0.01 ether}(0, 1);
        _settle(served);
        assertEq(uint256(_settlement.usedInEpoch(member, 0)), 5);
    }

    // ---------------------------------------------------------------------------------------------
    // Helpers
    // ---------------------------------------------------------------------------------------------

    function _settle(IUsageSettlement.Voucher memory v) internal {
        vm.prank(_worker);
        _settlement.settle(_vouchers(v));
    }

    function _settleKeys(IUsageSettlement.KeySettlement[] memory s) internal {
        vm.prank(_worker);
        _settlement.settleKeys(s);
    }

    /// @notice Expects settling `v` alone to fail with `err`, and checks nothing was charged.
    function _expectRefused(IUsageSettlement.Voucher memory v, bytes memory err) internal {
        vm.expectRevert(err);
        _settle(v);
        assertEq(uint256(_settlement.usedInEpoch(_consumer, v.epoch)), 0);
        assertEq(_balance(_consumer), DEPOSIT);
    }

    function _assertNothingSettled() internal {
        assertEq(uint256(_settlement.usedInEpoch(_consumer, _registry.currentEpoch())), 0);
        assertEq(_balance(_consumer), DEPOSIT);
        (uint256 accrued, ) = _settlement.feesOf(_registry.currentEpoch());
        assertEq(accrued, 0);
    }

    function _balance(address consumer) internal view returns (uint256 balance) {
        (balance, , ) = _settlement.accountOf(consumer);
    }

    function _voucherDigest(IUsageSettlement.Voucher memory v, address worker) internal view returns (bytes32) {
        return
            _settlement.usageDigest(
                v.consumer,
                address(0),
                worker,
                v.epoch,
                v.total,
                v.maxFeePerQuery,
                v.inputHash,
                v.deadline
            );
    }

    /// @notice A session key's settlement of its lane at `_worker`, its Usage signed by `signerKey`.
    function _sessionSettlement(
        IUsageSettlement.KeyGrant memory g,
        bytes memory grantSignature,
        uint64 epoch,
        uint64 total,
        uint256 signerKey
    ) internal view returns (IUsageSettlement.KeySettlement[] memory s) {
        s = _bearerSettlement(g, grantSignature, epoch, total);
        s[0].inputHash = keccak256(abi.encode("session input", total));
        s[0].deadline = uint64(block.timestamp + 1 hours);
        s[0].keySignature = _sign(
            signerKey,
            _settlement.usageDigest(
                g.consumer,
                g.key,
                _worker,
                epoch,
                total,
                g.maxFeePerQuery,
                s[0].inputHash,
                s[0].deadline
            )
        );
    }

    /// @notice A consumer with the usual quota and deposit, and its key.
    function _fundedConsumer(string memory name) internal returns (address who, uint256 key) {
        (who, key) = _actor(name);
        vm.prank(address(_timelock));
        _registry.setQuota(who, QUOTA);
        _deposit(who, DEPOSIT);
    }

    /// @notice A contract account with a quota and a deposit, and its owner's key.
    function _walletConsumer() internal returns (ERC1271Wallet wallet, uint256 ownerKey) {
        address owner;
        (owner, ownerKey) = _actor("wallet owner");
        wallet = new ERC1271Wallet(owner);
        vm.prank(address(_timelock));
        _registry.setQuota(address(wallet), QUOTA);
        _deposit(address(wallet), DEPOSIT);
    }

    function _pool(uint64 epoch) internal view returns (uint256 pool) {
        (pool, , ) = _rewards.epochTotals(epoch);
    }

    function _split(bytes memory signature) internal pure returns (bytes32 r, bytes32 s, uint8 v) {
        assembly ("memory-safe") {
            r := mload(add(signature, 32))
            s := mload(add(signature, 64))
            v := byte(0, mload(add(signature, 96)))
        }
    }
}
