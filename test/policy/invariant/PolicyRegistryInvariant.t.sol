// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {InvariantTargets} from "../../helpers/InvariantTargets.sol";
import {SystemDeployer} from "../../helpers/SystemDeployer.sol";
import {PolicyRegistryHandler} from "./PolicyRegistryHandler.sol";

/// @notice Whatever sequence of changes and attempts happens, the policy version only grows, by one
/// per change; only the timelock changes policy, and only it lifts the kill switch, naming the
/// current engagement.
contract PolicyRegistryInvariantTest is SystemDeployer, InvariantTargets {
    PolicyRegistryHandler internal _handler;

    function setUp() public {
        _deploySystem();
        _handler = new PolicyRegistryHandler(_registry, address(_timelock), _guardian);
        bytes4[] memory selectors = new bytes4[](4);
        selectors[0] = PolicyRegistryHandler.change.selector;
        selectors[1] = PolicyRegistryHandler.engage.selector;
        selectors[2] = PolicyRegistryHandler.lift.selector;
        selectors[3] = PolicyRegistryHandler.warp.selector;
        _targetContract(address(_handler));
        _targetSelectors(address(_handler), selectors);
    }

    /// forge-config: default.invariant.runs = 64
    /// forge-config: default.invariant.depth = 50
    function invariant_PolicyVersionOnlyGrowsByOnePerChange() public {
        assertEq(_handler.ghost_versionSkips(), 0);
        assertEq(_registry.policyVersion(), _handler.ghost_changes());
    }

    /// forge-config: default.invariant.runs = 64
    /// forge-config: default.invariant.depth = 50
    function invariant_OnlyTimelockChangesPolicy() public {
        assertEq(_handler.ghost_unauthorisedChanges(), 0);
        assertEq(_handler.ghost_liftsByOthers(), 0);
        assertEq(_handler.ghost_staleLifts(), 0);
        assertEq(_registry.timelock(), address(_timelock));
    }
}
