// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";

/// @title RawDigestRejectingAccount
/// @notice Smart-account code an EOA may delegate to (EIP-7702) that, like accounts following
/// ERC-7739, answers ERC-1271 only for digests wrapped in its own typed envelope: it rejects every
/// raw digest. The EOA's key still signs plain ECDSA, which is what UsageSettlement must accept.
contract RawDigestRejectingAccount is IERC1271 {
    /// @inheritdoc IERC1271
    function isValidSignature(bytes32, bytes memory) external pure returns (bytes4) {
        return 0xffffffff;
    }
}
