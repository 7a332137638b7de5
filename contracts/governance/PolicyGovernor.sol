// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Governor} from "@openzeppelin/contracts/governance/Governor.sol";
import {GovernorSettings} from "@openzeppelin/contracts/governance/extensions/GovernorSettings.sol";
import {GovernorCountingSimple} from "@openzeppelin/contracts/governance/extensions/GovernorCountingSimple.sol";
import {GovernorVotes} from "@openzeppelin/contracts/governance/extensions/GovernorVotes.sol";
import {GovernorVotesQuorumFraction} from "@openzeppelin/contracts/governance/extensions/GovernorVotesQuorumFraction.sol";
import {GovernorTimelockControl} from "@openzeppelin/contracts/governance/extensions/GovernorTimelockControl.sol";
import {GovernorPreventLateQuorum} from "@openzeppelin/contracts/governance/extensions/GovernorPreventLateQuorum.sol";
import {GovernorStorage} from "@openzeppelin/contracts/governance/extensions/GovernorStorage.sol";
import {GovernorProposalGuardian} from "@openzeppelin/contracts/governance/extensions/GovernorProposalGuardian.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {IVotes} from "@openzeppelin/contracts/governance/utils/IVotes.sol";
import {IPolicyRegistry} from "../interfaces/IPolicyRegistry.sol";

/// @title PolicyGovernor
/// @notice The DAO's Governor: stock OpenZeppelin extensions, composed, never forked. Proposals
/// execute through a TimelockController, which alone may change the AI's policy.
/// @dev Voting power is read at each proposal's snapshot (GovernorVotes), so tokens bought or
/// borrowed after it carry no weight. GovernorStorage keeps proposals enumerable on chain, so
/// the UI lists them without an indexer. The proposal guardian (a Safe in production) can
/// cancel any proposal but those that only change guardian roles (see {isGuardianRoleChange}):
/// it can stop things, never entrench itself, so the DAO can always replace it by a vote.
contract PolicyGovernor is
    Governor,
    GovernorSettings,
    GovernorCountingSimple,
    GovernorVotes,
    GovernorVotesQuorumFraction,
    GovernorTimelockControl,
    GovernorPreventLateQuorum,
    GovernorStorage,
    GovernorProposalGuardian
{
    /// @notice Parameters of a governor, grouped to keep the constructor readable.
    /// @param votingDelay Blocks between proposing and the vote opening (the snapshot).
    /// @param votingPeriod Blocks the vote stays open.
    /// @param proposalThreshold Votes needed to propose.
    /// @param quorumNumerator Quorum as a percentage of the total supply at the snapshot.
    /// @param lateQuorumExtension Blocks the vote is extended by when quorum is reached late.
    /// @param proposalGuardian Who may cancel proposals (the guardian Safe).
    /// @param policyRegistry The PolicyRegistry whose guardian and kill switch the guardian-role
    /// calls of {isGuardianRoleChange} change.
    struct Params {
        uint48 votingDelay;
        uint32 votingPeriod;
        uint256 proposalThreshold;
        uint256 quorumNumerator;
        uint48 lateQuorumExtension;
        address proposalGuardian;
        address policyRegistry;
    }

    /// @notice The PolicyRegistry whose guardian and kill switch this Governor's votes govern.
    address public immutable policyRegistry;

    constructor(
        IVotes token,
        TimelockController timelock,
        Params memory params
    )
        Governor("PolicyGovernor")
        GovernorSettings(params.votingDelay, params.votingPeriod, params.proposalThreshold)
        GovernorVotes(token)
        GovernorVotesQuorumFraction(params.quorumNumerator)
        GovernorTimelockControl(timelock)
        GovernorPreventLateQuorum(params.lateQuorumExtension)
    {
        _setProposalGuardian(params.proposalGuardian);
        policyRegistry = params.policyRegistry;
    }

    /// @notice Whether proposal `proposalId` only changes guardian roles: each of its calls, with no
    /// value, is this Governor's `setProposalGuardian`, or the registry's `setGuardian` or
    /// `liftKillSwitch`. The proposal guardian cannot cancel such a proposal (its proposer still may
    /// while it is pending). One other call in it makes it an ordinary proposal, so that bundling
    /// a replacement with other changes puts nothing beyond the guardian's veto.
    function isGuardianRoleChange(uint256 proposalId) public view returns (bool) {
        (address[] memory targets, uint256[] memory values, bytes[] memory calldatas, ) = proposalDetails(proposalId);
        for (uint256 i = 0; i < targets.length; ++i) {
            if (values[i] != 0 || calldatas[i].length < 4) return false;
            bytes4 selector = bytes4(calldatas[i]);
            bool guardianRole =
                targets[i] == address(this)
                    ? selector == this.setProposalGuardian.selector
                    : targets[i] == policyRegistry &&
                        (selector == IPolicyRegistry.setGuardian.selector ||
                            selector == IPolicyRegistry.liftKillSwitch.selector);
            if (!guardianRole) return false;
        }
        return targets.length != 0;
    }

    // The overrides below only resolve Solidity's multiple inheritance; each defers to super.

    function votingDelay() public view override(Governor, GovernorSettings) returns (uint256) {
        return super.votingDelay();
    }

    function votingPeriod() public view override(Governor, GovernorSettings) returns (uint256) {
        return super.votingPeriod();
    }

    function proposalThreshold() public view override(Governor, GovernorSettings) returns (uint256) {
        return super.proposalThreshold();
    }

    function quorum(uint256 timepoint) public view override(Governor, GovernorVotesQuorumFraction) returns (uint256) {
        return super.quorum(timepoint);
    }

    function state(uint256 proposalId) public view override(Governor, GovernorTimelockControl) returns (ProposalState) {
        return super.state(proposalId);
    }

    function proposalDeadline(
        uint256 proposalId
    ) public view override(Governor, GovernorPreventLateQuorum) returns (uint256) {
        return super.proposalDeadline(proposalId);
    }

    function proposalNeedsQueuing(
        uint256 proposalId
    ) public view override(Governor, GovernorTimelockControl) returns (bool) {
        return super.proposalNeedsQueuing(proposalId);
    }

    function _propose(
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        string memory description,
        address proposer
    ) internal override(Governor, GovernorStorage) returns (uint256) {
        return super._propose(targets, values, calldatas, description, proposer);
    }

    function _tallyUpdated(uint256 proposalId) internal override(Governor, GovernorPreventLateQuorum) {
        super._tallyUpdated(proposalId);
    }

    function _queueOperations(
        uint256 proposalId,
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(Governor, GovernorTimelockControl) returns (uint48) {
        return super._queueOperations(proposalId, targets, values, calldatas, descriptionHash);
    }

    function _executeOperations(
        uint256 proposalId,
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(Governor, GovernorTimelockControl) {
        super._executeOperations(proposalId, targets, values, calldatas, descriptionHash);
    }

    function _cancel(
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(Governor, GovernorTimelockControl) returns (uint256) {
        return super._cancel(targets, values, calldatas, descriptionHash);
    }

    function _validateCancel(
        uint256 proposalId,
        address caller
    ) internal view override(Governor, GovernorProposalGuardian) returns (bool) {
        // The guardian is left with the rights of any account (a proposer's, while pending).
        if (caller == proposalGuardian() && isGuardianRoleChange(proposalId)) {
            return Governor._validateCancel(proposalId, caller);
        }
        return super._validateCancel(proposalId, caller);
    }

    function _executor() internal view override(Governor, GovernorTimelockControl) returns (address) {
        return super._executor();
    }
}
