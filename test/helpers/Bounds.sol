// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Bounds
/// @notice forge-std's `bound`, which `@prb/test` lacks: maps a fuzzed value into a range without
/// discarding the run, so fuzzing keeps its budget for useful inputs.
library Bounds {
    /// @notice `bound` was given an empty range.
    error BoundsEmptyRange(uint256 min, uint256 max);

    /// @notice Maps `x` into [`min`, `max`]; values already in range are kept as they are.
    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        if (min > max) revert BoundsEmptyRange(min, max);
        if (x >= min && x <= max) return x;
        uint256 size = max - min;
        if (size == type(uint256).max) return x; // The whole uint256 range.
        return min + (x % (size + 1));
    }
}
