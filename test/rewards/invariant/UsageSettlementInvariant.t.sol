// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {InvariantTargets} from "../../helpers/InvariantTargets.sol";
import {SystemDeployer} from "../../helpers/SystemDeployer.sol";
import {UsageSettlementHandler} from "./UsageSettlementHandler.sol";

/// @notice Whatever sequence of settlements, quota changes, deposits and withdrawals happens,
/// settled usage never passes the quota in force, no query settles twice, no withdrawal is paid
/// early, and every wei is accounted for.
contract UsageSettlementInvariantTest is SystemDeployer, InvariantTargets {
    UsageSettlementHandler internal _handler;

    function setUp() public {
        _deploySystem();
        _configurePolicy();
        address[] memory consumers = new address[](3);
        uint256[] memory keys = new uint256[](3);
        for (uint256 i = 0; i < consumers.length; ++i) {
            (consumers[i], keys[i]) = _actor(string.concat("invariant consumer ", vm.toString(i)));
            vm.prank(address(_timelock));
            _registry.setQuota(consumers[i], 4);
        }
        _handler = new UsageSettlementHandler(_settlement, _registry, _worker, address(_timelock), consumers, keys);

        bytes4[] memory selectors = new bytes4[](7);
        selectors[0] = UsageSettlementHandler.settle.selector;
        selectors[1] = UsageSettlementHandler.replay.selector;
        selectors[2] = UsageSettlementHandler.setQuota.selector;
        selectors[3] = UsageSettlementHandler.deposit.selector;
        selectors[4] = UsageSettlementHandler.requestWithdrawal.selector;
        selectors[5] = UsageSettlementHandler.withdraw.selector;
        selectors[6] = UsageSettlementHandler.warp.selector;
        _targetContract(address(_handler));
        _targetSelectors(address(_handler), selectors);
    }

    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 40
    function invariant_SettledUsageNeverExceedsQuota() public {
        assertEq(_handler.ghost_quotaOverruns(), 0);
        for (uint256 k = 0; k < _handler.settledPairCount(); ++k) {
            address consumer = _handler.settledConsumers(k);
            uint64 epoch = _handler.settledEpochs(k);
            assertEq(
                uint256(_settlement.settledUsage(consumer, epoch)),
                uint256(_handler.ghost_settled(consumer, epoch))
            );
        }
    }

    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 40
    function invariant_NoQuerySettlesTwice() public {
        assertEq(_handler.ghost_replaysAccepted(), 0);
    }

    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 40
    function invariant_WithdrawalsWaitForUnlock() public {
        assertEq(_handler.ghost_earlyWithdrawals(), 0);
    }

    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 40
    function invariant_EveryWeiAccountedFor() public {
        uint256 deposits = 0;
        for (uint256 i = 0; i < _handler.consumerCount(); ++i) {
            (uint256 balance, , ) = _settlement.accountOf(_handler.consumers(i));
            deposits += balance;
        }
        assertEq(address(_settlement).balance, deposits);
        assertEq(deposits, _handler.ghost_deposited() - _handler.ghost_withdrawn() - _handler.ghost_fees());
        (uint256 received, ) = _rewards.totals();
        assertEq(received, _handler.ghost_fees());
        assertEq(address(_rewards).balance, received);
    }
}
