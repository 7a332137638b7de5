import { randomBytes } from "node:crypto";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { secp256k1 as libsecp256k1 } from "../chain/signatures.ts";
import { WorkerError } from "../internal/WorkerError.ts";

/**
 * A keyholder's key pair for receiving wrapped key shares. The public key is what the
 * PolicyRegistry stores for the member as `bytes`: a 33-byte compressed secp256k1 point (SEC 1,
 * 0x02 or 0x03 then x). This is deliberately not the keyholder's Ethereum account key: an account
 * key signs transactions and may live in a hardware wallet, while this key must decrypt on the
 * keyholder's server, and the two should be rotated independently.
 */
export type KeyholderKeyPair = { privateKey: Uint8Array; publicKey: Uint8Array };

export const KEYHOLDER_PUBLIC_KEY_BYTES = 33;

// Key pairs are made (one per wrapped share, for its ephemeral key) with libsecp256k1: natively, a
// share wraps in about 0.2 ms where @noble/curves took 2.2 (docs/performance.md, ingest; `npm run
// bench -- ingest` times whole submissions). Noble still checks the keys given.

export function generateKeyholderKeyPair(): KeyholderKeyPair {
  for (;;) {
    // A random 32 bytes is a valid key but for a chance of about 2^-128 (zero, or not below n).
    const privateKey = new Uint8Array(randomBytes(32));
    const publicKey = libsecp256k1.publicKey(privateKey, true);
    if (publicKey) return { privateKey, publicKey };
  }
}

export function keyholderPublicKey(privateKey: Uint8Array): Uint8Array {
  assertKeyholderPrivateKey(privateKey);
  return libsecp256k1.publicKey(privateKey, true)!;
}

export function assertKeyholderPublicKey(publicKey: Uint8Array): void {
  if (publicKey.byteLength !== KEYHOLDER_PUBLIC_KEY_BYTES || !secp256k1.utils.isValidPublicKey(publicKey, true)) {
    throw new WorkerError("VALIDATION_FAILED", "Not a keyholder public key.", {
      hints: ["A keyholder public key is a 33-byte compressed secp256k1 point starting with 0x02 or 0x03."],
    });
  }
}

export function assertKeyholderPrivateKey(privateKey: Uint8Array): void {
  if (!secp256k1.utils.isValidSecretKey(privateKey)) {
    throw new WorkerError("VALIDATION_FAILED", "Not a keyholder private key.", {
      hints: ["A keyholder private key is a 32-byte secp256k1 scalar, as generateKeyholderKeyPair makes."],
    });
  }
}
