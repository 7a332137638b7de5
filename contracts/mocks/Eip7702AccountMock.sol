// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ERC7739} from "@openzeppelin/contracts/utils/cryptography/signers/draft-ERC7739.sol";
import {SignerEIP7702} from "@openzeppelin/contracts/utils/cryptography/signers/SignerEIP7702.sol";

/// @title Eip7702AccountMock
/// @notice Test-only, never deployed by the system: OpenZeppelin's signer for an EOA that delegates
/// to it (EIP-7702), with ERC-7739's defensive rehashing. Its ERC-1271 answers only signatures
/// nested in ERC-7739's typed envelope, so it rejects a plain signature over a raw digest: the
/// outside review's case of a consumer that a code-first signature check refuses.
contract Eip7702AccountMock is SignerEIP7702, ERC7739 {
    constructor() EIP712("Eip7702AccountMock", "1") {}
}
