// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IPolicyRegistry} from "../../../contracts/interfaces/IPolicyRegistry.sol";
import {HandlerBase} from "../../helpers/HandlerBase.sol";

/// @title PolicyRegistryHandler
/// @notice Drives the PolicyRegistry through random sequences of changes by the timelock, kill
/// switch use by the guardian, and attempts by anyone else. Around every call it checks that the
/// version moved by exactly one per change made, and never moved otherwise.
contract PolicyRegistryHandler is HandlerBase {
    IPolicyRegistry public immutable registry;
    address public immutable timelock;
    address public immutable guardian;

    /// @notice Changes that succeeded, which is what `policyVersion()` must count.
    uint256 public ghost_changes;
    /// @notice Calls after which the version was not the one before plus the changes made: must stay 0.
    uint256 public ghost_versionSkips;
    /// @notice Changes made by someone other than the timelock (or the guardian engaging): must stay 0.
    uint256 public ghost_unauthorisedChanges;
    /// @notice Times the kill switch was lifted by anyone but the timelock: must stay 0.
    uint256 public ghost_liftsByOthers;
    /// @dev Lifts that succeeded naming another engagement than the current one.
    uint256 public ghost_staleLifts;

    constructor(IPolicyRegistry registry_, address timelock_, address guardian_) {
        registry = registry_;
        timelock = timelock_;
        guardian = guardian_;
    }

    /// @notice The timelock, a random caller or the guardian makes one of the registry's changes.
    /// @param which Picks the setter.
    /// @param callerSeed 0: the timelock; 1: the guardian; otherwise, the address it encodes.
    function change(uint256 which, uint256 callerSeed, address account, uint256 amount) external {
        address caller = _caller(callerSeed);
        if (account == address(0)) account = address(1);
        bytes memory data = _setterCall(which, account, amount);
        uint256 before = registry.policyVersion();
        VM.prank(caller);
        // A low-level call lets one function try every setter.
        // solhint-disable-next-line avoid-low-level-calls
        (bool success, ) = address(registry).call(data);
        _afterCall(before, success);
        if (success && caller != timelock) ++ghost_unauthorisedChanges;
    }

    /// @notice The guardian, the timelock or anyone else engages the kill switch.
    function engage(uint256 callerSeed, uint256 reasonLength) external {
        address caller = _caller(callerSeed);
        uint256 before = registry.policyVersion();
        VM.prank(caller);
        try registry.engageKillSwitch(string(new bytes(_bound(reasonLength, 0, 300)))) {
            _afterCall(before, true);
            if (caller != timelock && caller != registry.guardian()) ++ghost_unauthorisedChanges;
        } catch {
            _afterCall(before, false);
        }
    }

    /// @notice The timelock, the guardian or anyone else lifts the kill switch, naming mostly the
    /// current engagement, sometimes another one (a stale proposal's).
    function lift(uint256 callerSeed, uint256 idSeed) external {
        address caller = _caller(callerSeed);
        uint256 before = registry.policyVersion();
        uint64 current = registry.killSwitch().engagementId;
        uint64 engagementId = idSeed % 4 == 0 ? uint64(_bound(idSeed, 0, 10)) : current;
        VM.prank(caller);
        try registry.liftKillSwitch(engagementId) {
            _afterCall(before, true);
            if (caller != timelock) ++ghost_liftsByOthers;
            if (engagementId != current || current == 0) ++ghost_staleLifts;
        } catch {
            _afterCall(before, false);
        }
    }

    /// @notice Time passes, so training runs may lapse.
    function warp(uint256 seconds_) external {
        VM.warp(block.timestamp + _bound(seconds_, 1, 30 days));
    }

    function _caller(uint256 seed) private view returns (address) {
        if (seed % 4 == 0) return timelock;
        if (seed % 4 == 1) return registry.guardian();
        return address(uint160(_bound(seed, 1, type(uint160).max)));
    }

    function _afterCall(uint256 before, bool success) private {
        if (success) ++ghost_changes;
        if (registry.policyVersion() != before + (success ? 1 : 0)) ++ghost_versionSkips;
    }

    /// @notice One of the registry's timelock-only setters, with arguments drawn from `account`
    /// and `amount` (which may well be invalid: then the call must change nothing).
    function _setterCall(uint256 which, address account, uint256 amount) private view returns (bytes memory) {
        address[] memory accounts = new address[](1);
        accounts[0] = account;
        which %= 10;
        if (which == 0) return abi.encodeCall(IPolicyRegistry.setSubmitter, (account, amount % 2 == 0));
        if (which == 1) return abi.encodeCall(IPolicyRegistry.setSubmitters, (accounts, amount % 2 == 0));
        if (which == 2) return abi.encodeCall(IPolicyRegistry.setQuota, (account, uint64(amount)));
        if (which == 3) return abi.encodeCall(IPolicyRegistry.setQueryFee, (amount));
        if (which == 4) return abi.encodeCall(IPolicyRegistry.setWorker, (account, amount % 2 == 0));
        if (which == 5) return abi.encodeCall(IPolicyRegistry.setRevealDelay, (uint64(amount)));
        if (which == 6) return abi.encodeCall(IPolicyRegistry.setGuardian, (account));
        if (which == 7) {
            return
                abi.encodeCall(
                    IPolicyRegistry.setAttestationRequirement,
                    (keccak256(abi.encode(amount)), accounts, uint8(amount % 3), uint64(amount))
                );
        }
        if (which == 8) {
            return
                abi.encodeCall(
                    IPolicyRegistry.approveTrainingRun,
                    (bytes32(amount % 8), keccak256("spec"), account, uint64(block.timestamp + (amount % 3) * 1 days))
                );
        }
        return abi.encodeCall(IPolicyRegistry.revokeTrainingRun, (bytes32(amount % 8)));
    }
}
