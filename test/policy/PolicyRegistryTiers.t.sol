// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IPolicyRegistry} from "../../contracts/interfaces/IPolicyRegistry.sol";
import {SystemDeployer} from "../helpers/SystemDeployer.sol";

/// @notice Access tiers: the DAO votes them, consumers join by paying the exact price (to the
/// treasury), one tier at a time, within the tier's places; a voted quota wins over a tier's.
contract PolicyRegistryTiersTest is SystemDeployer {
    uint64 internal constant TIER_QUERIES = 500;
    uint128 internal constant TIER_PRICE = 0.01 ether;

    function setUp() public {
        _deploySystem();
        _setTier(0, TIER_QUERIES, TIER_PRICE, true, 0);
    }

    function _setTier(uint8 tierId, uint64 queries, uint128 price, bool open, uint32 maxMembers) internal {
        vm.prank(address(_timelock));
        _registry.setTier(tierId, queries, price, open, maxMembers);
    }

    function _join(address who, uint8 tierId, uint64 epochs, uint256 value) internal {
        vm.deal(who, who.balance + value);
        vm.prank(who);
        _registry.joinTier{value: value}(tierId, epochs);
    }

    // ---------------------------------------------------------------------------------------------
    // Setting tiers
    // ---------------------------------------------------------------------------------------------

    function test_SetTier() public {
        uint256 version = _registry.policyVersion();
        vm.expectEmit(address(_registry));
        emit IPolicyRegistry.TierSet(1, 50, 0, false, 7, version + 1);
        _setTier(1, 50, 0, false, 7);
        IPolicyRegistry.Tier memory t = _registry.tier(1);
        assertEq(uint256(t.queriesPerEpoch), 50);
        assertEq(uint256(t.pricePerEpoch), 0);
        assertFalse(t.open);
        assertEq(uint256(t.maxMembers), 7);
        assertEq(uint256(_registry.tierCount()), 2);
        assertEq(_registry.policyVersion(), version + 1);
    }

    function test_SetTierThroughGovernance() public {
        _passPolicy(abi.encodeCall(IPolicyRegistry.setTier, (1, 20, 1 gwei, true, 3)));
        assertEq(uint256(_registry.tier(1).queriesPerEpoch), 20);
        assertEq(uint256(_registry.tierCount()), 2);
    }

    function testFuzz_RevertIf_attack_nonTimelockSetsTier(address caller) public {
        vm.assume(caller != address(_timelock));
        vm.expectRevert(
            abi.encodeWithSelector(IPolicyRegistry.PolicyUnauthorized.selector, caller, address(_timelock))
        );
        vm.prank(caller);
        _registry.setTier(0, type(uint64).max, 0, true, 0);
        assertEq(uint256(_registry.tier(0).queriesPerEpoch), TIER_QUERIES);
    }

    function test_RevertIf_TierIdSkipsAhead() public {
        vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyInvalidTier.selector, 2, 1));
        _setTier(2, 10, 0, true, 0);
    }

    function test_RevertIf_NewTierGrantsNothing() public {
        vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyInvalidTier.selector, 1, 1));
        _setTier(1, 0, 0, true, 0);
    }

    function test_RemovedTierGrantsNothingAndRefusesJoins() public {
        _join(_consumer, 0, 2, 2 * uint256(TIER_PRICE));
        assertEq(uint256(_registry.quotaAt(_consumer, 0)), TIER_QUERIES);
        _setTier(0, 0, TIER_PRICE, true, 0);
        assertEq(uint256(_registry.quotaAt(_consumer, 0)), 0);
        assertEq(uint256(_registry.tierCount()), 1);
        vm.deal(_outsider, TIER_PRICE);
        vm.expectRevert(abi.encodeWithSelector(IPolicyRegistry.PolicyUnknownTier.selector, 0));
        vm.prank(_outsider);
        _registry.joinTier{value: TIER_PRICE}(0, 1);
    }

    // ---------------------------------------------------------------------------------------------
    // Joining
    // ---------------------------------------------------------------------------------------------

    function test_JoinTierPaysTheTreasuryAndGrantsTheQuota() public {
        _warpToEpoch(3);
        uint256 treasury = address(_timelock).balance;
        uint256 version = _registry.policyVersion();
        vm.deal(_outsider, 3 * uint256(TIER_PRICE));
        vm.expectEmit(address(_registry));
        emit IPolicyRegistry.TierJoined(_outsider, 0, 3, 6, 3 * uint256(TIER_PRICE), version + 1);
        vm.prank(_outsider);
        _registry.joinTier{value: 3 * uint256(TIER_PRICE)}(0, 3);

        assertEq(address(_timelock).balance, treasury + 3 * uint256(TIER_PRICE));
        assertEq(address(_registry).balance, 0);
        (uint8 tierId, uint64 fromEpoch, uint64 untilEpoch) = _registry.membershipOf(_outsider);
        assertEq(uint256(tierId), 0);
        assertEq(uint256(fromEpoch), 3);
        assertEq(uint256(untilEpoch), 6);
        assertEq(uint256(_registry.quotaAt(_outsider, 2)), 0);
        assertEq(uint256(_registry.quotaAt(_outsider, 3)), TIER_QUERIES);
        assertEq(uint256(_registry.quotaAt(_outsider, 5)), TIER_QUERIES);
        assertEq(uint256(_registry.quotaAt(_outsider, 6)), 0);
        assertEq(uint256(_registry.tierMembers(0, 5)), 1);
        assertEq(uint256(_registry.tierMembers(0, 6)), 0);
        assertEq(_registry.policyVersion(), version + 1);
    }

    function test_FreeTierTakesNoPayment() public {
        _setTier(1, 5, 0, true, 0);
        _join(_outsider, 1, 1, 0);
        assertEq(uint256(_registry.quotaAt(_outsider, 0)), 5);
    }

    function test_RenewalExtendsFromTheMembershipsEnd() public {
        _join(_outsider, 0, 2, 2 * uint256(TIER_PRICE));
        _warpToEpoch(1);
        vm.expectEmit(address(_registry));
        emit IPolicyRegistry.TierJoined(_outsider, 0, 2, 4, 2 * uint256(TIER_PRICE), _registry.policyVersion() + 1);
        _join(_outsider, 0, 2, 2 * uint256(TIER_PRICE));
        (, uint64 fromEpoch, uint64 untilEpoch) = _registry.membershipOf(_outsider);
        assertEq(uint256(fromEpoch), 0);
        assertEq(uint256(untilEpoch), 4);
        assertEq(uint256(_registry.tierMembers(0, 1)), 1); // Counted once per epoch, not per payment.
    }

    function test_LapsedMembershipRestartsFromTheCurrentEpoch() public {
        _join(_outsider, 0, 1, TIER_PRICE);
        _warpToEpoch(5);
        _join(_outsider, 0, 1, TIER_PRICE);
        (, uint64 fromEpoch, uint64 untilEpoch) = _registry.membershipOf(_outsider);
        assertEq(uint256(fromEpoch), 5);
        assertEq(uint256(untilEpoch), 6);
    }

    function test_MemberRenewsAClosedTier() public {
        _join(_outsider, 0, 1, TIER_PRICE);
        _setTier(0, TIER_QUERIES, TIER_PRICE, false, 0);
        _join(_outsider, 0, 1, TIER_PRICE);
        (, , uint64 untilEpoch) = _registry.membershipOf(_outsider);
        assertEq(uint256(untilEpoch), 2);
    }

    function test_VotedQuotaWinsOverTheTier() public {
        _join(_outsider, 0, 1, TIER_PRICE);
        vm.prank(address(_timelock));
        _registry.setQuota(_outsider, 7);
        assertEq(uint256(_registry.quotaAt(_outsider, 0)), 7);
        vm.prank(address(_timelock));
        _registry.setQuota(_outsider, 0);
        assertEq(uint256(_registry.quotaAt(_outsider, 0)), TIER_QUERIES);
    }

    function test_SettlementTermsInOneCall() public {
        vm.startPrank(address(_timelock));
        _registry.setWorker(_worker, true);
        _registry.setQueryFee(3 gwei);
        vm.stopPrank();
        _join(_outsider, 0, 1, TIER_PRICE);
        (bool isWorker, uint64 quota, uint256 fee) = _registry.settlementTerms(_outsider, _worker, 0);
        assertTrue(isWorker);
        assertEq(uint256(quota), TIER_QUERIES);
        assertEq(fee, 3 gwei);
        (isWorker, quota, ) = _registry.settlementTerms(_outsider, _outsider, 1);
        assertFalse(isWorker);
        assertEq(uint256(quota), 0);
    }

    // ---------------------------------------------------------------------------------------------
    // Attacks: each refused, nothing changed
    // ---------------------------------------------------------------------------------------------

    function _expectJoinRefused(address who, uint8 tierId, uint64 epochs, uint256 value, bytes memory err) internal {
        vm.deal(who, who.balance + value);
        uint256 treasury = address(_timelock).balance;
        uint256 version = _registry.policyVersion();
        (uint8 tierBefore, uint64 fromBefore, uint64 untilBefore) = _registry.membershipOf(who);
        vm.expectRevert(err);
        vm.prank(who);
        _registry.joinTier{value: value}(tierId, epochs);
        (uint8 tierAfter, uint64 fromAfter, uint64 untilAfter) = _registry.membershipOf(who);
        assertEq(uint256(tierAfter), uint256(tierBefore));
        assertEq(uint256(fromAfter), uint256(fromBefore));
        assertEq(uint256(untilAfter), uint256(untilBefore));
        assertEq(address(_timelock).balance, treasury);
        assertEq(_registry.policyVersion(), version);
    }

    function testFuzz_RevertIf_attack_wrongPayment(uint256 value) public {
        value = _bound(value, 0, 10 ether);
        vm.assume(value != 2 * uint256(TIER_PRICE));
        _expectJoinRefused(
            _outsider,
            0,
            2,
            value,
            abi.encodeWithSelector(IPolicyRegistry.PolicyTierWrongPayment.selector, 2 * uint256(TIER_PRICE), value)
        );
        assertEq(uint256(_registry.quotaAt(_outsider, 0)), 0);
    }

    function test_RevertIf_attack_joinClosedTier() public {
        _setTier(0, TIER_QUERIES, TIER_PRICE, false, 0);
        _expectJoinRefused(
            _outsider,
            0,
            1,
            TIER_PRICE,
            abi.encodeWithSelector(IPolicyRegistry.PolicyTierClosed.selector, 0)
        );
    }

    function test_RevertIf_attack_lapsedMemberRejoinsClosedTier() public {
        _join(_outsider, 0, 1, TIER_PRICE);
        _setTier(0, TIER_QUERIES, TIER_PRICE, false, 0);
        _warpToEpoch(2);
        _expectJoinRefused(
            _outsider,
            0,
            1,
            TIER_PRICE,
            abi.encodeWithSelector(IPolicyRegistry.PolicyTierClosed.selector, 0)
        );
    }

    function test_RevertIf_attack_joinFullTier() public {
        _setTier(1, 10, TIER_PRICE, true, 1);
        _join(_consumer, 1, 2, 2 * uint256(TIER_PRICE));
        _expectJoinRefused(
            _outsider,
            1,
            1,
            TIER_PRICE,
            abi.encodeWithSelector(IPolicyRegistry.PolicyTierFull.selector, 1, 0, 1)
        );
        // A place frees up once the member's epochs are over.
        _warpToEpoch(2);
        _join(_outsider, 1, 1, TIER_PRICE);
        assertEq(uint256(_registry.tierMembers(1, 2)), 1);
    }

    function test_RevertIf_attack_renewalOverfillsATierLaterFull() public {
        _setTier(1, 10, TIER_PRICE, true, 1);
        _join(_consumer, 1, 1, TIER_PRICE);
        _warpToEpoch(1);
        _join(_outsider, 1, 2, 2 * uint256(TIER_PRICE)); // Takes epochs 1 and 2.
        _warpToEpoch(0);
        _expectJoinRefused(
            _consumer,
            1,
            1,
            TIER_PRICE,
            abi.encodeWithSelector(IPolicyRegistry.PolicyTierFull.selector, 1, 1, 1)
        );
    }

    function test_RevertIf_attack_joinSecondTierWhileMember() public {
        _setTier(1, 10_000, TIER_PRICE, true, 0);
        _join(_outsider, 0, 2, 2 * uint256(TIER_PRICE));
        _expectJoinRefused(
            _outsider,
            1,
            1,
            TIER_PRICE,
            abi.encodeWithSelector(IPolicyRegistry.PolicyTierMembershipActive.selector, 0, 2)
        );
        assertEq(uint256(_registry.quotaAt(_outsider, 0)), TIER_QUERIES);
        // In the epoch after it ends, its last epoch is still being settled: still one tier.
        _warpToEpoch(2);
        _expectJoinRefused(
            _outsider,
            1,
            1,
            TIER_PRICE,
            abi.encodeWithSelector(IPolicyRegistry.PolicyTierMembershipActive.selector, 0, 2)
        );
        // From the epoch after that, another tier may be joined.
        _warpToEpoch(3);
        _join(_outsider, 1, 1, TIER_PRICE);
        assertEq(uint256(_registry.quotaAt(_outsider, 3)), 10_000);
    }

    function test_RejoinInTheEpochItEndedContinuesTheMembership() public {
        _join(_outsider, 0, 1, TIER_PRICE);
        _warpToEpoch(1);
        _join(_outsider, 0, 1, TIER_PRICE);
        (, uint64 fromEpoch, uint64 untilEpoch) = _registry.membershipOf(_outsider);
        assertEq(uint256(fromEpoch), 0);
        assertEq(uint256(untilEpoch), 2);
        // Epoch 0's usage, settled during epoch 1, still has its quota.
        assertEq(uint256(_registry.quotaAt(_outsider, 0)), TIER_QUERIES);
        assertEq(uint256(_registry.tierMembers(0, 1)), 1);
    }

    function test_MemberOfARemovedTierMayJoinAnother() public {
        _setTier(1, 10, TIER_PRICE, true, 0);
        _join(_outsider, 0, 2, 2 * uint256(TIER_PRICE));
        _setTier(0, 0, 0, false, 0);
        _join(_outsider, 1, 1, TIER_PRICE);
        assertEq(uint256(_registry.quotaAt(_outsider, 0)), 10);
    }

    function testFuzz_RevertIf_attack_epochsOutOfRange(uint64 epochs) public {
        vm.assume(epochs == 0 || epochs > 12);
        uint256 price = uint256(TIER_PRICE) * epochs;
        _expectJoinRefused(
            _outsider,
            0,
            epochs,
            price,
            abi.encodeWithSelector(IPolicyRegistry.PolicyInvalidTierEpochs.selector, epochs, 12)
        );
    }

    function test_RevertIf_attack_joinUnknownTier() public {
        _expectJoinRefused(_outsider, 9, 1, 0, abi.encodeWithSelector(IPolicyRegistry.PolicyUnknownTier.selector, 9));
    }
}
