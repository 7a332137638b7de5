// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IUsageSettlement} from "../../contracts/interfaces/IUsageSettlement.sol";
import {SystemDeployer} from "../helpers/SystemDeployer.sol";

/// @notice Gas snapshots of settling a lane, written to `snapshots/UsageSettlement.json` by
/// `npx hardhat test solidity --snapshot`: one voucher and one bearer-key settlement in a call of
/// their own, whatever the number of queries they cover.
/// @dev Steady state: the consumer settled the same lanes in an earlier epoch (in `setUp`, their
/// own transactions), so the lane, usage, key and fee slots exist, as they do for a consumer that
/// keeps using the system; "first" rows settle a lane never settled before. Every system contract
/// is marked cold before the measured call. A figure is the call's execution gas, without the
/// 21,000 base cost and the calldata of a transaction (`npm run bench -- gas` gives receipt gas).
contract UsageSettlementGasTest is SystemDeployer {
    string internal constant GROUP = "UsageSettlement";
    uint256 internal constant APP_KEY = uint256(keccak256("app key"));

    IUsageSettlement.KeyGrant internal _grant;
    bytes internal _grantSignature;

    function setUp() public {
        _deploySystem();
        _configurePolicy();
        vm.prank(address(_timelock));
        _registry.setQuota(_consumer, 20_000);
        _deposit(_consumer, 100 ether);
        (_grant, _grantSignature) = _signGrant(_consumerKey, vm.addr(APP_KEY), 1_000_000, FEE);
        // Epoch 0: both lanes settle once, as in any earlier epoch of a consumer's life.
        vm.startPrank(_worker);
        _settlement.settle(_vouchers(_signVoucher(_consumerKey, 0, 1, FEE)));
        _settlement.settleKeys(_bearerSettlement(_grant, _grantSignature, 0, 1));
        vm.stopPrank();
        // Epoch 2 reuses epoch 0's slots (same parity); a first settlement of epoch 2 by another
        // consumer made its fee pot this epoch's, as any busy epoch's is.
        _warpToEpoch(2);
        (address other, uint256 otherKey) = _actor("other consumer");
        vm.prank(address(_timelock));
        _registry.setQuota(other, 10);
        _deposit(other, 1 ether);
        IUsageSettlement.Voucher[] memory v = _vouchers(_signVoucher(otherKey, 2, 1, FEE));
        vm.prank(_worker);
        _settlement.settle(v);
    }

    function test_GasSettleVoucher() public {
        _measureVoucher(1, "settle: 1 voucher (1 query)");
    }

    function test_GasSettleVoucher10000() public {
        _measureVoucher(10_000, "settle: 1 voucher (10,000 queries)");
    }

    function test_GasSettleKey() public {
        _measureKey(1, "settleKeys: 1 bearer key (1 query)");
    }

    function test_GasSettleKey10000() public {
        _measureKey(10_000, "settleKeys: 1 bearer key (10,000 queries)");
    }

    function test_GasSettleVoucherFirstLane() public {
        (address fresh, uint256 freshKey) = _actor("fresh consumer");
        vm.prank(address(_timelock));
        _registry.setQuota(fresh, 100);
        _deposit(fresh, 1 ether);
        IUsageSettlement.Voucher[] memory v = _vouchers(_signVoucher(freshKey, 2, 100, FEE));
        _coolSystem();
        vm.prank(_worker);
        _settlement.settle(v);
        VM_EXT.snapshotGasLastCall(GROUP, "settle: 1 voucher, first lane of a new consumer");
    }

    function test_GasSettleKeyFirstGrant() public {
        (IUsageSettlement.KeyGrant memory g, bytes memory sig) = _signGrant(
            _consumerKey,
            vm.addr(uint256(keccak256("new app key"))),
            1000,
            FEE
        );
        IUsageSettlement.KeySettlement[] memory s = _bearerSettlement(g, sig, 2, 100);
        _coolSystem();
        vm.prank(_worker);
        _settlement.settleKeys(s);
        VM_EXT.snapshotGasLastCall(GROUP, "settleKeys: 1 bearer key, first settlement of its grant");
    }

    function _measureVoucher(uint64 total, string memory name) internal {
        IUsageSettlement.Voucher[] memory v = _vouchers(_signVoucher(_consumerKey, 2, total, FEE));
        _coolSystem();
        vm.prank(_worker);
        _settlement.settle(v);
        VM_EXT.snapshotGasLastCall(GROUP, name);
        assertEq(uint256(_settlement.usedInEpoch(_consumer, 2)), total);
    }

    function _measureKey(uint64 total, string memory name) internal {
        IUsageSettlement.KeySettlement[] memory s = _bearerSettlement(_grant, _grantSignature, 2, total);
        _coolSystem();
        vm.prank(_worker);
        _settlement.settleKeys(s);
        VM_EXT.snapshotGasLastCall(GROUP, name);
        assertEq(uint256(_settlement.usedInEpoch(_consumer, 2)), total);
    }
}
