// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Votes} from "@openzeppelin/contracts/governance/utils/Votes.sol";
import {IERC5805} from "@openzeppelin/contracts/interfaces/IERC5805.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {SystemDeployer} from "../helpers/SystemDeployer.sol";

/// @notice The voting token: a fixed supply, checkpointed votes that follow delegation and
/// transfers, and permits.
contract GovernanceTokenTest is SystemDeployer {
    bytes32 private constant _PERMIT_TYPEHASH = keccak256(
        "Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"
    );

    function setUp() public {
        _deploySystem();
    }

    function test_SupplyMintedOnceAndAllocated() public {
        assertEq(_token.totalSupply(), TOKEN_SUPPLY);
        for (uint256 i = 0; i < _holders.length; ++i) {
            assertEq(_token.balanceOf(_holders[i]), _holderBalances[i]);
            assertEq(_token.getVotes(_holders[i]), _holderBalances[i]);
        }
        assertEq(_token.clock(), block.number);
        assertEq(_token.CLOCK_MODE(), "mode=blocknumber&from=default");
    }

    function testFuzz_VotesFollowTransfers(uint256 amount) public {
        amount = _bound(amount, 0, _holderBalances[0]);
        vm.prank(_holders[0]);
        _token.transfer(_holders[1], amount);
        assertEq(_token.getVotes(_holders[0]), _holderBalances[0] - amount);
        assertEq(_token.getVotes(_holders[1]), _holderBalances[1] + amount);
        assertEq(_token.getVotes(_holders[0]) + _token.getVotes(_holders[1]), _holderBalances[0] + _holderBalances[1]);
    }

    function testFuzz_PastVotesAreFixed(uint256 amount) public {
        amount = _bound(amount, 1, _holderBalances[0]);
        uint256 before = block.number - 1;
        vm.prank(_holders[0]);
        _token.transfer(_outsider, amount);
        vm.roll(block.number + 1);
        assertEq(_token.getPastVotes(_holders[0], before), _holderBalances[0]);
        assertEq(_token.getPastVotes(_holders[0], block.number - 1), _holderBalances[0] - amount);
    }

    function test_UndelegatedBalanceHasNoVotes() public {
        vm.prank(_holders[0]);
        _token.transfer(_outsider, 10 ether);
        assertEq(_token.getVotes(_outsider), 0);
        vm.prank(_outsider);
        _token.delegate(_holders[2]);
        assertEq(_token.getVotes(_holders[2]), _holderBalances[2] + 10 ether);
    }

    function test_RevertIf_PastVotesOfTheFuture() public {
        vm.expectRevert(abi.encodeWithSelector(Votes.ERC5805FutureLookup.selector, block.number, block.number));
        _token.getPastVotes(_holders[0], block.number);
    }

    function test_Permit() public {
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 structHash = keccak256(abi.encode(_PERMIT_TYPEHASH, _holders[1], _outsider, 5 ether, 0, deadline));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(
            _holderKeys[1],
            keccak256(abi.encodePacked("\x19\x01", _token.DOMAIN_SEPARATOR(), structHash))
        );
        _token.permit(_holders[1], _outsider, 5 ether, deadline, v, r, s);
        assertEq(_token.allowance(_holders[1], _outsider), 5 ether);
        assertEq(_token.nonces(_holders[1]), 1);

        // Replayed, the signature is checked against the next nonce and recovers to someone else.
        bytes32 replayed = keccak256(abi.encode(_PERMIT_TYPEHASH, _holders[1], _outsider, 5 ether, 1, deadline));
        address recovered = ecrecover(
            keccak256(abi.encodePacked("\x19\x01", _token.DOMAIN_SEPARATOR(), replayed)),
            v,
            r,
            s
        );
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612InvalidSigner.selector, recovered, _holders[1]));
        _token.permit(_holders[1], _outsider, 5 ether, deadline, v, r, s);
    }

    function test_DelegateBySig() public {
        (address newHolder, uint256 key) = _actor("newHolder");
        vm.prank(_holders[0]);
        _token.transfer(newHolder, 7 ether);
        uint256 expiry = block.timestamp + 1 hours;
        bytes32 structHash = keccak256(
            abi.encode(keccak256("Delegation(address delegatee,uint256 nonce,uint256 expiry)"), newHolder, 0, expiry)
        );
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(
            key,
            keccak256(abi.encodePacked("\x19\x01", _token.DOMAIN_SEPARATOR(), structHash))
        );
        IERC5805(address(_token)).delegateBySig(newHolder, 0, expiry, v, r, s);
        assertEq(_token.delegates(newHolder), newHolder);
        assertEq(_token.getVotes(newHolder), 7 ether);
    }
}
