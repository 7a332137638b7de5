// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IRunRewards} from "../../contracts/interfaces/IRunRewards.sol";

/// @title RunRewardsReentrantClaimer
/// @notice A malicious contributor of a run's model: a contract that, when paid for its leaf, claims
/// the same leaf again to be paid twice, catching the failure to keep the first payment.
contract RunRewardsReentrantClaimer {
    IRunRewards public immutable runRewards;

    bytes32 private _runId;
    bytes32 private _dataHash;
    uint256 private _weight;
    bytes32[] private _proof;
    /// @notice How many times RunRewards paid this contract.
    uint256 public payments;
    /// @notice The revert data of the failed re-entry.
    bytes public reentryError;

    constructor(IRunRewards runRewards_) {
        runRewards = runRewards_;
    }

    /// @notice Claims the leaf; the payment triggers the re-entry.
    function claim(bytes32 runId, bytes32 dataHash, uint256 weight, bytes32[] calldata proof) external {
        (_runId, _dataHash, _weight, _proof) = (runId, dataHash, weight, proof);
        runRewards.claim(runId, dataHash, weight, proof);
    }

    // Re-entering on payment is the whole point of this contract.
    // solhint-disable-next-line no-complex-fallback
    receive() external payable {
        ++payments;
        try runRewards.claim(_runId, _dataHash, _weight, _proof) {} catch (bytes memory reason) {
            reentryError = reason;
        }
    }
}
