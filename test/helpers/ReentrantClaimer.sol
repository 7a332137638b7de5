// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IContributorRewards} from "../../contracts/interfaces/IContributorRewards.sol";

/// @title ReentrantClaimer
/// @notice A malicious contributor: a contract that, when paid its reward, calls `claim` again to be
/// paid twice. Either it lets the failed re-entry revert the payment (`swallow` false), or it
/// catches the failure and keeps what it was paid (`swallow` true), recording the error.
contract ReentrantClaimer {
    IContributorRewards public immutable rewards;
    bool public immutable swallow;

    uint64 private _epoch;
    /// @notice How many times the rewards contract paid this contract.
    uint256 public payments;
    /// @notice The revert data of the last failed re-entry (only when `swallow`).
    bytes public reentryError;

    /// @param rewards_ The rewards contract to attack.
    /// @param swallow_ Whether to catch the failed re-entry and keep the first payment.
    constructor(IContributorRewards rewards_, bool swallow_) {
        rewards = rewards_;
        swallow = swallow_;
    }

    /// @notice Claims `epoch`'s reward; the payment triggers the re-entry.
    function claim(uint64 epoch) external returns (uint256) {
        _epoch = epoch;
        return rewards.claim(epoch);
    }

    /// @notice Claims several epochs; each payment triggers a re-entry into `claim` of the first.
    function claimMany(uint64[] calldata epochs) external returns (uint256) {
        _epoch = epochs[0];
        return rewards.claimMany(epochs);
    }

    // Re-entering on payment is the whole point of this contract.
    // solhint-disable-next-line no-complex-fallback
    receive() external payable {
        ++payments;
        if (swallow) {
            try rewards.claim(_epoch) {} catch (bytes memory reason) {
                reentryError = reason;
            }
        } else {
            rewards.claim(_epoch);
        }
    }
}
