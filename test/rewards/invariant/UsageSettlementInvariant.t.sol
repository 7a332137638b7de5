// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IUsageSettlement} from "../../../contracts/interfaces/IUsageSettlement.sol";
import {InvariantTargets} from "../../helpers/InvariantTargets.sol";
import {SystemDeployer} from "../../helpers/SystemDeployer.sol";
import {UsageSettlementHandler} from "./UsageSettlementHandler.sol";

/// @notice Whatever sequence of voucher and key settlements, replays, quota and fee changes,
/// sweeps, deposits and withdrawals happens: what a consumer's lanes settle in an epoch never
/// passes its quota, nobody is charged more than a voucher or grant authorised, no lane is
/// charged twice for a total, no key passes its cap, no withdrawal is paid early, and the fees
/// accrued and swept are exactly what was charged.
contract UsageSettlementInvariantTest is SystemDeployer, InvariantTargets {
    uint64 internal constant KEY_CAP = 25;

    UsageSettlementHandler internal _handler;

    function setUp() public {
        _deploySystem();
        _configurePolicy();
        (address worker2, ) = _actor("worker2");
        vm.prank(address(_timelock));
        _registry.setWorker(worker2, true);
        address[] memory consumers = new address[](3);
        uint256[] memory keys = new uint256[](3);
        IUsageSettlement.KeyGrant[] memory grants = new IUsageSettlement.KeyGrant[](3);
        bytes[] memory grantSignatures = new bytes[](3);
        for (uint256 i = 0; i < consumers.length; ++i) {
            (consumers[i], keys[i]) = _actor(string.concat("invariant consumer ", vm.toString(i)));
            vm.prank(address(_timelock));
            _registry.setQuota(consumers[i], 12);
            (address appKey, ) = _actor(string.concat("invariant app key ", vm.toString(i)));
            (grants[i], grantSignatures[i]) = _signGrant(keys[i], appKey, KEY_CAP, FEE);
            grants[i].expiresAt = type(uint64).max;
            grantSignatures[i] = _sign(keys[i], _settlement.keyGrantDigest(grants[i]));
        }
        _handler = new UsageSettlementHandler(
            _settlement,
            _registry,
            _worker,
            worker2,
            address(_timelock),
            consumers,
            keys,
            grants,
            grantSignatures
        );

        // Every state-changing function of the handler is an action (views are not fuzzed). The
        // handler is named by `targetContracts` only: EDR does not find it for `targetSelectors`.
        _targetContract(address(_handler));
    }

    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 40
    function invariant_SettledNeverExceedsQuotaSummedOverLanes() public {
        assertEq(_handler.ghost_quotaOverruns(), 0);
        uint64 current = _registry.currentEpoch();
        for (uint256 k = 0; k < _handler.settledPairCount(); ++k) {
            address consumer = _handler.settledConsumers(k);
            uint64 epoch = _handler.settledEpochs(k);
            // The contract keeps the epochs that can still be settled: the current and the previous.
            if (epoch + 1 < current) continue;
            assertEq(uint256(_settlement.usedInEpoch(consumer, epoch)), uint256(_handler.ghost_used(consumer, epoch)));
        }
    }

    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 40
    function invariant_NeverChargedAboveWhatWasAuthorised() public {
        assertEq(_handler.ghost_overcharges(), 0);
        assertEq(_handler.ghost_capOverruns(), 0);
    }

    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 40
    function invariant_NoLaneChargedTwice() public {
        assertEq(_handler.ghost_doubleCharges(), 0);
    }

    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 40
    function invariant_WithdrawalsWaitForUnlock() public {
        assertEq(_handler.ghost_earlyWithdrawals(), 0);
    }

    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 40
    function invariant_FeesAccruedAndSweptEqualCharged() public {
        uint256 accruedTotal = 0;
        uint256 sweptTotal = 0;
        for (uint256 k = 0; k < _handler.feeEpochCount(); ++k) {
            (uint256 accrued, bool swept) = _settlement.feesOf(_handler.feeEpochs(k));
            accruedTotal += accrued;
            if (swept) sweptTotal += accrued;
        }
        assertEq(accruedTotal, _handler.ghost_fees());
        (uint256 received, ) = _rewards.totals();
        assertEq(received, sweptTotal);
        assertEq(address(_rewards).balance, received);

        uint256 deposits = 0;
        for (uint256 i = 0; i < _handler.consumerCount(); ++i) {
            (uint256 balance, , ) = _settlement.accountOf(_handler.consumers(i));
            deposits += balance;
        }
        assertEq(deposits, _handler.ghost_deposited() - _handler.ghost_withdrawn() - _handler.ghost_fees());
        assertEq(address(_settlement).balance, deposits + accruedTotal - sweptTotal);
    }
}
