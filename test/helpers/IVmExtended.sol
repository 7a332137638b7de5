// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IVmExtended
/// @notice Cheatcodes that Hardhat's EDR supports but `@prb/test`'s `Vm` does not declare. Call them
/// on the same address as `vm` (PRBTest's `VM_ADDRESS`).
interface IVmExtended {
    /// @notice Writes the gas used by the test's last external call to `snapshots/<group>.json`
    /// under `name` when the tests run with `--snapshot`, and checks it with `--snapshot-check`.
    function snapshotGasLastCall(string calldata group, string calldata name) external returns (uint256 gasUsed);

    /// @notice Writes `value` to `snapshots/<group>.json` under `name`, like `snapshotGasLastCall`.
    function snapshotValue(string calldata group, string calldata name, uint256 value) external;

    /// @notice Marks `target` and all its storage as not accessed in this transaction, so the next
    /// call pays cold-access gas as a fresh transaction would.
    function cool(address target) external;

    /// @notice Saves the whole chain state; `revertToState` returns to it (a test's "what if").
    function snapshotState() external returns (uint256 snapshotId);

    /// @notice Returns the chain state to snapshot `snapshotId`.
    function revertToState(uint256 snapshotId) external returns (bool success);

    /// @notice Skips the current test (reported as skipped, not failed).
    function skip(bool skipTest, string calldata reason) external;
}
