// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title InvariantTargets
/// @notice The part of forge-std's `StdInvariant` that EDR reads to run `invariant_` functions:
/// which contracts the fuzzer calls, and which of their functions. Invariant tests inherit it and
/// call `_targetContract` / `_targetSelectors` in `setUp`.
abstract contract InvariantTargets {
    /// @notice Functions of one contract the fuzzer may call (the layout EDR expects).
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    address[] private _targetedContracts;
    FuzzSelector[] private _targetedSelectors;

    /// @notice Read by EDR: the contracts whose functions are called in random sequences.
    function targetContracts() public view returns (address[] memory) {
        return _targetedContracts;
    }

    /// @notice Read by EDR: the functions called on each target (all of them when none is given).
    function targetSelectors() public view returns (FuzzSelector[] memory) {
        return _targetedSelectors;
    }

    /// @notice Has the fuzzer call `target`.
    function _targetContract(address target) internal {
        _targetedContracts.push(target);
    }

    /// @notice Has the fuzzer call only `selectors` on `target` (leaving out its ghost getters).
    function _targetSelectors(address target, bytes4[] memory selectors) internal {
        _targetedSelectors.push(FuzzSelector({addr: target, selectors: selectors}));
    }
}
