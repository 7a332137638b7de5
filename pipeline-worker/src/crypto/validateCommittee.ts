import { secp256k1 } from "@noble/curves/secp256k1.js";
import { WorkerError } from "../internal/WorkerError.ts";
import { KEYHOLDER_PUBLIC_KEY_BYTES } from "./keyholderKeys.ts";

export type ValidateCommitteeParameters = {
  /** For the message; the PolicyRegistry's committee id, or the id a manifest names. */
  id: bigint | string;
  /** The members' addresses, in the order of `publicKeys`. */
  members: readonly string[];
  /** Each member's share-wrapping public key, 0x-hex. */
  publicKeys: readonly string[];
  threshold: number;
};

/**
 * Refuses (COMMITTEE_INVALID) a keyholder committee that data must not be encrypted to, or whose
 * shares a keyholder must not release:
 *
 * - a public key listed twice: its holder gets two shares, so with keys K1, K1, K2 and threshold
 *   2 the holder of K1 opens every data key alone, and the threshold means nothing;
 * - a key that is not a 33-byte compressed secp256k1 point: no share can be wrapped to it, so
 *   every upload would fail after its ciphertext was stored;
 * - a member listed twice, keys and members that do not pair up, or a threshold outside
 *   1..members: the committee is not the k-of-n the DAO meant.
 *
 * The PolicyRegistry refuses such committees itself, but one deployed before it did may hold one,
 * and a key's validity as a point is never checked on chain; so whoever encrypts or releases
 * checks the committee it is handed. Keys are compared as bytes (case-insensitive hex): a
 * compressed point has one encoding.
 */
export function assertValidCommittee(
  committee: ValidateCommitteeParameters,
  options: {
    /** Default true (the DAO may set a valid committee); false where the committee can never change, as in a stored manifest. */
    retryable?: boolean;
  } = {},
): void {
  const { members, publicKeys, threshold } = committee;
  const invalid = (problem: string) =>
    new WorkerError("COMMITTEE_INVALID", `Committee ${committee.id} is invalid: ${problem}.`, {
      retryable: options.retryable ?? true,
      hints: [
        "The DAO must set a committee of distinct, valid keys with 1 <= threshold <= members (PolicyRegistry.setCommittee); until then nothing is encrypted to this one.",
      ],
      extra: { committeeId: committee.id.toString() },
    });
  if (members.length !== publicKeys.length) {
    throw invalid(`it lists ${members.length} members but ${publicKeys.length} public keys`);
  }
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > members.length) {
    throw invalid(`its threshold ${threshold} is not between 1 and its ${members.length} members`);
  }
  const seenKeys = new Set<string>();
  const seenMembers = new Set<string>();
  for (const [i, publicKey] of publicKeys.entries()) {
    const key = publicKey.toLowerCase();
    if (!isCompressedPoint(key))
      throw invalid(`the public key ${publicKey} is not a 33-byte compressed secp256k1 public key`);
    if (seenKeys.has(key)) throw invalid(`the public key ${publicKey} is listed twice`);
    seenKeys.add(key);
    const member = members[i]!.toLowerCase();
    if (seenMembers.has(member)) throw invalid(`the member ${members[i]} is listed twice`);
    seenMembers.add(member);
  }
}

function isCompressedPoint(hex: string): boolean {
  if (!new RegExp(`^0x0[23][0-9a-f]{${(KEYHOLDER_PUBLIC_KEY_BYTES - 1) * 2}}$`).test(hex)) return false;
  return secp256k1.utils.isValidPublicKey(Buffer.from(hex.slice(2), "hex"), true);
}
