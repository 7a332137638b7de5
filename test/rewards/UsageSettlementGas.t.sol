// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IUsageSettlement} from "../../contracts/interfaces/IUsageSettlement.sol";
import {SystemDeployer} from "../helpers/SystemDeployer.sol";

/// @notice Gas snapshots of settling signed queries, written to `snapshots/UsageSettlement.json`
/// by `npx hardhat test solidity --snapshot`.
/// @dev The consumer has a deposit and one query already settled this epoch (in `setUp`, its own
/// transaction), so its usage counter, nonce word and the epoch's pool exist, as in steady state.
/// Every system contract is marked cold before the measured call. A figure is the call's
/// execution gas, without the 21,000 base cost and the calldata of a transaction.
contract UsageSettlementGasTest is SystemDeployer {
    string internal constant GROUP = "UsageSettlement";
    uint256 internal constant BATCH = 10;

    function setUp() public {
        _deploySystem();
        _configurePolicy();
        _deposit(_consumer, 1 ether);
        IUsageSettlement.SignedQuery[] memory first = _batch(_signQuery(_consumerKey, keccak256("q0"), 0, 0));
        vm.prank(_worker);
        _settlement.settle(first);
    }

    function test_GasSettle() public {
        IUsageSettlement.SignedQuery[] memory batch = _batch(_signQuery(_consumerKey, keccak256("q1"), 1, 0));
        _coolSystem();
        vm.prank(_worker);
        _settlement.settle(batch);
        VM_EXT.snapshotGasLastCall(GROUP, "settle (1)");
    }

    function test_GasSettle10() public {
        IUsageSettlement.SignedQuery[] memory batch = new IUsageSettlement.SignedQuery[](BATCH);
        for (uint256 i = 0; i < BATCH; ++i) {
            batch[i] = _signQuery(_consumerKey, keccak256(abi.encode("q", i)), uint64(2 + i), 0);
        }
        _coolSystem();
        vm.prank(_worker);
        _settlement.settle(batch);
        uint256 gasUsed = VM_EXT.snapshotGasLastCall(GROUP, "settle (10)");
        VM_EXT.snapshotValue(GROUP, "settle (10), per item", gasUsed / BATCH);
        assertEq(uint256(_settlement.settledUsage(_consumer, 0)), BATCH + 1);
    }
}
