import { secp256k1 } from "@noble/curves/secp256k1.js";
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

export function generateKeyholderKeyPair(): KeyholderKeyPair {
  const { secretKey, publicKey } = secp256k1.keygen();
  return { privateKey: secretKey, publicKey: toCompressed(publicKey) };
}

export function keyholderPublicKey(privateKey: Uint8Array): Uint8Array {
  assertKeyholderPrivateKey(privateKey);
  return secp256k1.getPublicKey(privateKey, true);
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

function toCompressed(publicKey: Uint8Array): Uint8Array {
  return publicKey.byteLength === KEYHOLDER_PUBLIC_KEY_BYTES
    ? publicKey
    : secp256k1.Point.fromBytes(publicKey).toBytes(true);
}
