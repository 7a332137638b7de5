// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IPolicyRegistry} from "../../contracts/interfaces/IPolicyRegistry.sol";
import {IUsageSettlement} from "../../contracts/interfaces/IUsageSettlement.sol";
import {ERC1271Wallet} from "../helpers/ERC1271Wallet.sol";
import {SystemDeployer} from "../helpers/SystemDeployer.sol";

/// @notice Usage settlement: only the consumer's own, unreplayed, in-quota, paid-for queries settle,
/// and their fees land in the pool of the epoch they counted in.
contract UsageSettlementTest is SystemDeployer {
    /// @dev The order of the secp256k1 group; a valid `s` is at most half of it.
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
    bytes32 internal constant INPUT = keccak256("what is the capital of France?");

    function setUp() public {
        _deploySystem();
        _configurePolicy();
        _deposit(_consumer, 1 ether);
    }

    // ---------------------------------------------------------------------------------------------
    // The signed message
    // ---------------------------------------------------------------------------------------------

    function testFuzz_QueryDigestIsEIP712(bytes32 inputHash, uint64 nonce, uint64 epoch, uint64 deadline) public {
        bytes32 domain = keccak256(
            abi.encode(
                EIP712_DOMAIN_TYPEHASH,
                keccak256("DAO AI Query"),
                keccak256("1"),
                block.chainid,
                address(_settlement)
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256("Query(address consumer,bytes32 inputHash,uint64 nonce,uint64 epoch,uint64 deadline)"),
                _consumer,
                inputHash,
                nonce,
                epoch,
                deadline
            )
        );
        bytes32 expected = keccak256(abi.encodePacked("\x19\x01", domain, structHash));
        assertEq(_settlement.queryDigest(_consumer, inputHash, nonce, epoch, deadline), expected);
    }

    // ---------------------------------------------------------------------------------------------
    // Settling
    // ---------------------------------------------------------------------------------------------

    function test_Settle() public {
        IUsageSettlement.SignedQuery memory q = _signQuery(_consumerKey, INPUT, 7, 0);
        vm.expectEmit(address(_settlement));
        emit IUsageSettlement.UsageSettled(_consumer, 0, 1, 1, FEE);
        _settle(_batch(q));

        assertEq(uint256(_settlement.settledUsage(_consumer, 0)), 1);
        assertTrue(_settlement.isNonceUsed(_consumer, 7));
        assertFalse(_settlement.isNonceUsed(_consumer, 6));
        (uint256 balance, , ) = _settlement.accountOf(_consumer);
        assertEq(balance, 1 ether - FEE);
        assertEq(address(_settlement).balance, 1 ether - FEE);
        (uint256 pool, , ) = _rewards.epochTotals(0);
        assertEq(pool, FEE);
    }

    function testFuzz_AnyNonceSettlesOnce(uint64 nonce) public {
        IUsageSettlement.SignedQuery memory q = _signQuery(_consumerKey, INPUT, nonce, 0);
        _settle(_batch(q));
        assertTrue(_settlement.isNonceUsed(_consumer, nonce));
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageNonceAlreadyUsed.selector, _consumer, nonce));
        _settle(_batch(q));
    }

    function test_FeesReachEachQueryEpochPool() public {
        _warpToEpoch(2);
        IUsageSettlement.SignedQuery[] memory batch = new IUsageSettlement.SignedQuery[](4);
        // Deliberately unsorted: epoch 1, 2, 1, 0.
        batch[0] = _signQuery(_consumerKey, INPUT, 1, 1);
        batch[1] = _signQuery(_consumerKey, INPUT, 2, 2);
        batch[2] = _signQuery(_consumerKey, INPUT, 3, 1);
        batch[3] = _signQuery(_consumerKey, INPUT, 4, 0);
        _settle(batch);
        assertEq(_pool(0), FEE);
        assertEq(_pool(1), 2 * FEE);
        assertEq(_pool(2), FEE);
        assertEq(uint256(_settlement.settledUsage(_consumer, 1)), 2);
        (uint256 received, ) = _rewards.totals();
        assertEq(received, 4 * FEE);
        assertEq(address(_settlement).balance, 1 ether - 4 * FEE);
    }

    function test_FeesPayThatEpochContributors() public {
        _recordAttested(_contributor, keccak256("data"), 10);
        IUsageSettlement.SignedQuery[] memory batch = new IUsageSettlement.SignedQuery[](3);
        for (uint256 i = 0; i < batch.length; ++i) {
            batch[i] = _signQuery(_consumerKey, INPUT, uint64(i), 0);
        }
        _settle(batch);
        _endEpoch();
        vm.prank(_contributor);
        assertEq(_rewards.claim(0), 3 * FEE);
    }

    function test_ZeroFeeSettlesWithoutDeposit() public {
        vm.prank(address(_timelock));
        _registry.setQueryFee(0);
        (address poor, uint256 poorKey) = _actor("poor consumer");
        vm.prank(address(_timelock));
        _registry.setQuota(poor, 1);
        _settle(_batch(_signQuery(poorKey, INPUT, 0, 0)));
        assertEq(uint256(_settlement.settledUsage(poor, 0)), 1);
        (uint256 received, ) = _rewards.totals();
        assertEq(received, 0);
    }

    function test_QuotaRenewsEachEpoch() public {
        vm.prank(address(_timelock));
        _registry.setQuota(_consumer, 1);
        _settle(_batch(_signQuery(_consumerKey, INPUT, 0, 0)));
        _endEpoch();
        _settle(_batch(_signQuery(_consumerKey, INPUT, 1, 1)));
        assertEq(uint256(_settlement.settledUsage(_consumer, 1)), 1);
    }

    function test_ContractConsumerSettlesWithERC1271() public {
        (ERC1271Wallet wallet, uint256 ownerKey) = _walletConsumer();
        _settle(_batch(_signQueryFor(address(wallet), ownerKey, 1)));
        assertEq(uint256(_settlement.settledUsage(address(wallet), 0)), 1);
        assertEq(_pool(0), FEE);
    }

    function test_RevertIf_ContractConsumerDidNotApprove() public {
        (ERC1271Wallet wallet, ) = _walletConsumer();
        // Signed by a key the wallet does not accept (its consumer's, not its owner's).
        IUsageSettlement.SignedQuery memory q = _signQueryFor(address(wallet), _consumerKey, 1);
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageInvalidSignature.selector, address(wallet), 1));
        _settle(_batch(q));
    }

    // ---------------------------------------------------------------------------------------------
    // Refusals
    // ---------------------------------------------------------------------------------------------

    function testFuzz_RevertIf_SignedBySomeoneElse(uint256 key) public {
        key = _bound(key, 1, SECP256K1_N - 1);
        vm.assume(key != _consumerKey);
        IUsageSettlement.SignedQuery memory q = _signQuery(key, INPUT, 1, 0);
        q.consumer = _consumer;
        _expectRefused(abi.encodeWithSelector(IUsageSettlement.UsageInvalidSignature.selector, _consumer, 1), q);
    }

    function test_RevertIf_SignedFieldChanged() public {
        IUsageSettlement.SignedQuery memory q = _signQuery(_consumerKey, INPUT, 1, 0);
        q.inputHash = keccak256("another question");
        _expectRefused(abi.encodeWithSelector(IUsageSettlement.UsageInvalidSignature.selector, _consumer, 1), q);
        q = _signQuery(_consumerKey, INPUT, 1, 0);
        q.deadline += 1;
        _expectRefused(abi.encodeWithSelector(IUsageSettlement.UsageInvalidSignature.selector, _consumer, 1), q);
    }

    function test_RevertIf_SignatureMalleated() public {
        IUsageSettlement.SignedQuery memory q = _signQuery(_consumerKey, INPUT, 1, 0);
        (bytes32 r, bytes32 s, uint8 v) = _split(q.signature);
        // (r, n - s, v ^ 1) is the same signature's twin: valid for ecrecover, refused by ECDSA.
        q.signature = abi.encodePacked(r, bytes32(SECP256K1_N - uint256(s)), v == 27 ? uint8(28) : uint8(27));
        assertEq(ecrecover(_digest(q), v == 27 ? 28 : 27, r, bytes32(SECP256K1_N - uint256(s))), _consumer);
        _expectRefused(abi.encodeWithSelector(IUsageSettlement.UsageInvalidSignature.selector, _consumer, 1), q);
    }

    function test_RevertIf_NonceReplayed() public {
        IUsageSettlement.SignedQuery memory q = _signQuery(_consumerKey, INPUT, 1, 0);
        _settle(_batch(q));
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageNonceAlreadyUsed.selector, _consumer, 1));
        _settle(_batch(q));
        assertEq(uint256(_settlement.settledUsage(_consumer, 0)), 1);
        assertEq(_pool(0), FEE);
    }

    function test_RevertIf_NonceRepeatedInBatch() public {
        IUsageSettlement.SignedQuery[] memory batch = new IUsageSettlement.SignedQuery[](2);
        batch[0] = _signQuery(_consumerKey, INPUT, 1, 0);
        batch[1] = _signQuery(_consumerKey, keccak256("other input"), 1, 0);
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageNonceAlreadyUsed.selector, _consumer, 1));
        _settle(batch);
        _assertNothingSettled();
    }

    function test_RevertIf_OverQuota() public {
        vm.prank(address(_timelock));
        _registry.setQuota(_consumer, 2);
        IUsageSettlement.SignedQuery[] memory batch = new IUsageSettlement.SignedQuery[](3);
        for (uint256 i = 0; i < batch.length; ++i) {
            batch[i] = _signQuery(_consumerKey, INPUT, uint64(i), 0);
        }
        // All or nothing: the third query sinks the batch.
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageExceedsQuota.selector, _consumer, 0, 3, 2));
        _settle(batch);
        _assertNothingSettled();

        IUsageSettlement.SignedQuery[] memory firstTwo = new IUsageSettlement.SignedQuery[](2);
        firstTwo[0] = batch[0];
        firstTwo[1] = batch[1];
        _settle(firstTwo);
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageExceedsQuota.selector, _consumer, 0, 3, 2));
        _settle(_batch(batch[2]));
    }

    function test_RevertIf_ConsumerHasNoQuota() public {
        (address stranger, uint256 strangerKey) = _actor("stranger");
        _deposit(stranger, 1 ether);
        IUsageSettlement.SignedQuery memory q = _signQuery(strangerKey, INPUT, 1, 0);
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageExceedsQuota.selector, stranger, 0, 1, 0));
        _settle(_batch(q));
    }

    function testFuzz_RevertIf_FutureEpoch(uint64 epoch) public {
        epoch = uint64(_bound(epoch, 1, type(uint64).max));
        IUsageSettlement.SignedQuery memory q = _signQuery(_consumerKey, INPUT, 1, epoch);
        _expectRefused(abi.encodeWithSelector(IUsageSettlement.UsageFutureEpoch.selector, epoch, 0), q);
    }

    function test_RevertIf_DepositTooSmall() public {
        (address thrifty, uint256 thriftyKey) = _actor("thrifty");
        vm.prank(address(_timelock));
        _registry.setQuota(thrifty, 10);
        _deposit(thrifty, FEE - 1);
        IUsageSettlement.SignedQuery memory q = _signQuery(thriftyKey, INPUT, 1, 0);
        vm.expectRevert(
            abi.encodeWithSelector(IUsageSettlement.UsageInsufficientDeposit.selector, thrifty, FEE - 1, FEE)
        );
        _settle(_batch(q));
        assertEq(uint256(_settlement.settledUsage(thrifty, 0)), 0);
    }

    function test_RevertIf_KillSwitchEngaged() public {
        vm.prank(_guardian);
        _registry.engageKillSwitch("stop inference");
        _expectRefused(
            abi.encodeWithSelector(IUsageSettlement.UsageKillSwitchEngaged.selector),
            _signQuery(_consumerKey, INPUT, 1, 0)
        );
    }

    function testFuzz_RevertIf_CallerNotWorker(address caller) public {
        vm.assume(caller != _worker);
        IUsageSettlement.SignedQuery[] memory batch = _batch(_signQuery(_consumerKey, INPUT, 1, 0));
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageNotWorker.selector, caller));
        vm.prank(caller);
        _settlement.settle(batch);
        _assertNothingSettled();
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
        (uint256 balance, , ) = _settlement.accountOf(_consumer);
        assertEq(balance, 1 ether + amount);
    }

    function test_RevertIf_DepositZero() public {
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageInvalidAmount.selector, 0));
        _settlement.deposit(_consumer);
    }

    function testFuzz_WithdrawalLockedUntilUnlock(uint256 wait) public {
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
        vm.assume(amount == 0 || amount > 1 ether);
        vm.expectRevert(abi.encodeWithSelector(IUsageSettlement.UsageInvalidAmount.selector, amount));
        vm.prank(_consumer);
        _settlement.requestWithdrawal(amount);
    }

    function test_QueriesServedDuringLockStillSettle() public {
        vm.prank(_consumer);
        _settlement.requestWithdrawal(1 ether);
        _settle(_batch(_signQuery(_consumerKey, INPUT, 1, 0)));
        vm.warp(block.timestamp + 2 * EPOCH_LENGTH);
        vm.prank(_consumer);
        // The withdrawal is capped at what the settled fees left.
        assertEq(_settlement.withdraw(), 1 ether - FEE);
        assertEq(address(_settlement).balance, 0);
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

    function test_SettleAfterPolicyChangesThroughGovernance() public {
        _passPolicy(abi.encodeCall(IPolicyRegistry.setQueryFee, (2 * FEE)));
        uint64 epoch = _registry.currentEpoch();
        _settle(_batch(_signQuery(_consumerKey, INPUT, 1, epoch)));
        assertEq(_pool(epoch), 2 * FEE);
    }

    // ---------------------------------------------------------------------------------------------
    // Helpers
    // ---------------------------------------------------------------------------------------------

    function _settle(IUsageSettlement.SignedQuery[] memory batch) internal {
        vm.prank(_worker);
        _settlement.settle(batch);
    }

    /// @notice Expects settling `q` alone to fail with `err`, and checks nothing was settled.
    function _expectRefused(bytes memory err, IUsageSettlement.SignedQuery memory q) internal {
        vm.expectRevert(err);
        _settle(_batch(q));
        _assertNothingSettled();
    }

    function _assertNothingSettled() internal {
        assertEq(uint256(_settlement.settledUsage(_consumer, _registry.currentEpoch())), 0);
        (uint256 balance, , ) = _settlement.accountOf(_consumer);
        assertEq(balance, 1 ether);
        (uint256 received, ) = _rewards.totals();
        assertEq(received, 0);
    }

    /// @notice A contract account with a quota and a deposit, and its owner's key.
    function _walletConsumer() internal returns (ERC1271Wallet wallet, uint256 ownerKey) {
        address owner;
        (owner, ownerKey) = _actor("wallet owner");
        wallet = new ERC1271Wallet(owner);
        vm.prank(address(_timelock));
        _registry.setQuota(address(wallet), QUOTA);
        _deposit(address(wallet), 1 ether);
    }

    /// @notice A query of `consumer` in the current epoch, signed with `key`.
    function _signQueryFor(
        address consumer,
        uint256 key,
        uint64 nonce
    ) internal view returns (IUsageSettlement.SignedQuery memory q) {
        q = _signQuery(key, INPUT, nonce, _registry.currentEpoch());
        q.consumer = consumer;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, _digest(q));
        q.signature = abi.encodePacked(r, s, v);
    }

    function _pool(uint64 epoch) internal view returns (uint256 pool) {
        (pool, , ) = _rewards.epochTotals(epoch);
    }

    function _digest(IUsageSettlement.SignedQuery memory q) internal view returns (bytes32) {
        return _settlement.queryDigest(q.consumer, q.inputHash, q.nonce, q.epoch, q.deadline);
    }

    function _split(bytes memory signature) internal pure returns (bytes32 r, bytes32 s, uint8 v) {
        assembly ("memory-safe") {
            r := mload(add(signature, 32))
            s := mload(add(signature, 64))
            v := byte(0, mload(add(signature, 96)))
        }
    }
}
