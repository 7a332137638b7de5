// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {InvariantTargets} from "../../helpers/InvariantTargets.sol";
import {SystemDeployer} from "../../helpers/SystemDeployer.sol";
import {ContributorRewardsHandler} from "./ContributorRewardsHandler.sol";

/// @notice Whatever sequence of recording, funding, voiding, claiming and rolling over happens,
/// rewards never pay out more than they received, no epoch pays more than its pool, no contributor
/// more than its share, and a voided contribution counts for nothing.
contract ContributorRewardsInvariantTest is SystemDeployer, InvariantTargets {
    ContributorRewardsHandler internal _handler;

    function setUp() public {
        _deploySystem();
        _configurePolicy();
        address[] memory contributors = new address[](4);
        for (uint256 i = 0; i < contributors.length; ++i) {
            (contributors[i], ) = _actor(string.concat("invariant contributor ", vm.toString(i)));
        }
        vm.prank(address(_timelock));
        _registry.setSubmitters(contributors, true);
        _handler = new ContributorRewardsHandler(
            _rewards,
            _registry,
            _eas,
            _dataSchemaUID,
            _worker,
            _attester,
            address(_timelock),
            contributors
        );

        bytes4[] memory selectors = new bytes4[](8);
        selectors[0] = ContributorRewardsHandler.record.selector;
        selectors[1] = ContributorRewardsHandler.fund.selector;
        selectors[2] = ContributorRewardsHandler.claim.selector;
        selectors[3] = ContributorRewardsHandler.claimAll.selector;
        selectors[4] = ContributorRewardsHandler.rollOver.selector;
        selectors[5] = ContributorRewardsHandler.warp.selector;
        selectors[6] = ContributorRewardsHandler.voidContribution.selector;
        selectors[7] = ContributorRewardsHandler.withdrawContribution.selector;
        _targetContract(address(_handler));
        _targetSelectors(address(_handler), selectors);
    }

    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 40
    function invariant_TotalClaimedNeverExceedsTotalFunded() public {
        (uint256 received, uint256 paidOut) = _rewards.totals();
        assertLte(paidOut, received);
        assertEq(received, _handler.ghost_funded());
        assertEq(paidOut, _handler.ghost_claimed());
        assertEq(address(_rewards).balance, received - paidOut);
    }

    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 40
    function invariant_ContributorsReceiveOnlyWhatWasClaimed() public {
        uint256 balances = 0;
        for (uint256 i = 0; i < _handler.contributorCount(); ++i) {
            balances += _handler.contributors(i).balance;
        }
        assertEq(balances, _handler.ghost_claimed());
    }

    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 40
    function invariant_NoEpochPaysMoreThanItsPoolNorAnyoneMoreThanItsShare() public {
        uint256 pools = 0;
        for (uint256 k = 0; k < _handler.touchedEpochCount(); ++k) {
            uint64 epoch = _handler.touchedEpochs(k);
            (uint256 pool, uint256 totalWeight, uint256 paid) = _rewards.epochTotals(epoch);
            pools += pool;
            assertLte(paid, pool);
            uint256 claimed = 0;
            uint256 weights = 0;
            for (uint256 i = 0; i < _handler.contributorCount(); ++i) {
                (uint256 weight, uint256 claimedByOne) = _rewards.shareOf(epoch, _handler.contributors(i));
                if (weight != 0) assertLte(claimedByOne, Math.mulDiv(pool, weight, totalWeight));
                claimed += claimedByOne;
                weights += weight;
            }
            assertEq(claimed, paid);
            assertEq(weights, totalWeight);
            // Voided data weighs nothing: the epoch's and each share's weight are the live ones.
            assertEq(totalWeight, _handler.ghost_liveWeight(epoch));
            for (uint256 i = 0; i < _handler.contributorCount(); ++i) {
                address contributor = _handler.contributors(i);
                (uint256 weight, ) = _rewards.shareOf(epoch, contributor);
                assertEq(weight, _handler.ghost_liveShare(epoch, contributor));
            }
        }
        assertEq(_handler.ghost_voidsAfterClaim(), 0);
        // Rolling over moves pools between epochs and never creates or destroys any.
        assertEq(pools, _handler.ghost_funded());
    }
}
