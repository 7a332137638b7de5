// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

/// @title GovernanceToken
/// @notice The DAO's voting token: stock ERC20 with permit and checkpointed votes, composed, not forked.
/// @dev The whole supply is minted once, at deployment; there is no owner and no later mint, so
/// nobody can manufacture voting power after a proposal's snapshot.
contract GovernanceToken is ERC20, ERC20Permit, ERC20Votes {
    /// @param name_ The token's name.
    /// @param symbol_ The token's symbol.
    /// @param holder Who receives the initial supply (the deployer hands it out, or the timelock keeps it).
    /// @param supply The initial and total supply, in the smallest unit.
    constructor(
        string memory name_,
        string memory symbol_,
        address holder,
        uint256 supply
    ) ERC20(name_, symbol_) ERC20Permit(name_) {
        _mint(holder, supply);
    }

    /// @inheritdoc ERC20Permit
    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        super._update(from, to, value);
    }
}
