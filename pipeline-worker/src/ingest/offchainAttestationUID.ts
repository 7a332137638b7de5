import { encodePacked, keccak256, stringToHex, zeroAddress, zeroHash, type Hex } from "viem";

/** The fields of a version-2 EAS off-chain attestation that its UID is made of, as JSON carries them. */
export type OffchainAttestationUIDFields = {
  schema: string;
  recipient: string;
  time: bigint | number | string;
  expirationTime: bigint | number | string;
  revocable: boolean;
  refUID: string;
  data: string;
  /** Version 2 always carries one; a missing salt is hashed as zero, as the worker hands it to ContributorRewards. */
  salt?: string | undefined;
};

/**
 * The UID of a version-2 EAS off-chain attestation, exactly as the EAS SDK computes it
 * (`Offchain.getOffchainUID`). EAS hashes the schema UID as the text it was given, not as its 32
 * bytes, so the same signed attestation has a different UID for each spelling of its schema (lower
 * case, upper case...); every other field is hashed as bytes, and its letter case does not matter.
 * The UID is not covered by the attester's signature, so anyone may re-spell the schema and
 * recompute it: whoever checks a revocation must check it under every spelling the attester may
 * have revoked (see checkAttestations).
 */
export function offchainAttestationUID(fields: OffchainAttestationUIDFields): Hex {
  return keccak256(
    encodePacked(
      ["uint16", "bytes", "address", "address", "uint64", "uint64", "bool", "bytes32", "bytes", "bytes32", "uint32"],
      [
        2,
        stringToHex(fields.schema),
        // Lower case: viem refuses a mixed-case address whose checksum is wrong; the bytes are the same.
        fields.recipient.toLowerCase() as Hex,
        zeroAddress,
        BigInt(fields.time),
        BigInt(fields.expirationTime),
        fields.revocable,
        fields.refUID.toLowerCase() as Hex,
        fields.data.toLowerCase() as Hex,
        (fields.salt ?? zeroHash).toLowerCase() as Hex,
        0,
      ],
    ),
  );
}
