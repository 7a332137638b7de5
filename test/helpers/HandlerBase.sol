// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "@prb/test/src/Vm.sol";
import {Bounds} from "./Bounds.sol";

/// @title HandlerBase
/// @notice What every invariant handler needs: the cheatcodes and `_bound`. A handler wraps the
/// system's functions so that random sequences of calls stay meaningful, and keeps `ghost_`
/// sums of what it did, which the invariants compare with the contracts' own books.
abstract contract HandlerBase {
    /// @dev The cheatcode address, as in `@prb/test`.
    Vm internal constant VM = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    /// @notice Maps `x` into [`min`, `max`].
    function _bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        return Bounds.bound(x, min, max);
    }
}
