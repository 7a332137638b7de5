import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { secp256k1 } from "../chain/signatures.ts";
import { WorkerError } from "../internal/WorkerError.ts";
import {
  assertKeyholderPrivateKey,
  assertKeyholderPublicKey,
  generateKeyholderKeyPair,
  KEYHOLDER_PUBLIC_KEY_BYTES,
  keyholderPublicKey,
} from "./keyholderKeys.ts";

/**
 * ECIES over secp256k1: a key share sealed so that only one keyholder can open it, bound to the
 * submission it belongs to. docs/crypto-formats.md specifies it for implementers in other
 * languages.
 *
 *   E       = a fresh ephemeral key pair; e = its 33-byte compressed public key
 *   R       = the keyholder's 33-byte compressed public key
 *   z       = x coordinate of ECDH(E, R) (32 bytes)
 *   key     = HKDF-SHA256(ikm = z, salt = e || R, info = "dao-ai/share-wrap/v1")
 *   aad     = "dao-ai/share-wrap/v1" || e || R || context
 *   wrapped = 0x01 || e || nonce (12 random bytes) || AES-256-GCM(key, nonce, share, aad) || tag (16)
 *
 * Composed from libsecp256k1's ECDH (chain/signatures.ts: native where it loads, else WebAssembly;
 * the same points as @noble/curves', which a test checks) and Node's HKDF and AES-GCM rather than
 * taken from eciesjs, because eciesjs cannot bind a context: a share must not open
 * under another submission's id, or a keyholder could be tricked into releasing a share of a data
 * key that no approved training run covers.
 */

const LABEL = Buffer.from("dao-ai/share-wrap/v1");
const VERSION = 0x01;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const OVERHEAD = 1 + KEYHOLDER_PUBLIC_KEY_BYTES + NONCE_BYTES + TAG_BYTES;

export type WrapKeyShareParameters = {
  /** The keyholder's 33-byte compressed public key, as the PolicyRegistry stores it. */
  recipientPublicKey: Uint8Array;
  /** What the share belongs to, e.g. the submission id; unwrapping needs the same bytes. */
  context: Uint8Array;
};

export function wrapKeyShare(share: Uint8Array, parameters: WrapKeyShareParameters): Uint8Array {
  assertKeyholderPublicKey(parameters.recipientPublicKey);
  const ephemeral = generateKeyholderKeyPair();
  // The recipient's key was checked above, so there is a point.
  const shared = secp256k1.sharedPoint(ephemeral.privateKey, parameters.recipientPublicKey)!;
  const key = deriveWrapKey(shared, ephemeral.publicKey, parameters.recipientPublicKey);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  cipher.setAAD(wrapAad(ephemeral.publicKey, parameters.recipientPublicKey, parameters.context));
  const body = Buffer.concat([cipher.update(share), cipher.final()]);
  return new Uint8Array(Buffer.concat([Buffer.of(VERSION), ephemeral.publicKey, nonce, body, cipher.getAuthTag()]));
}

export type UnwrapKeyShareParameters = {
  /** The keyholder's 32-byte private key. */
  privateKey: Uint8Array;
  context: Uint8Array;
};

export function unwrapKeyShare(wrapped: Uint8Array, parameters: UnwrapKeyShareParameters): Uint8Array {
  assertKeyholderPrivateKey(parameters.privateKey);
  const bytes = Buffer.from(wrapped.buffer, wrapped.byteOffset, wrapped.byteLength);
  if (bytes.byteLength <= OVERHEAD || bytes[0] !== VERSION) {
    throw unwrapFailed("It is not a wrapped key share of a version this worker reads.");
  }
  const ephemeralPublicKey = bytes.subarray(1, 1 + KEYHOLDER_PUBLIC_KEY_BYTES);
  const nonce = bytes.subarray(1 + KEYHOLDER_PUBLIC_KEY_BYTES, 1 + KEYHOLDER_PUBLIC_KEY_BYTES + NONCE_BYTES);
  const body = bytes.subarray(1 + KEYHOLDER_PUBLIC_KEY_BYTES + NONCE_BYTES, bytes.byteLength - TAG_BYTES);
  const tag = bytes.subarray(bytes.byteLength - TAG_BYTES);
  const recipientPublicKey = keyholderPublicKey(parameters.privateKey);

  const shared = secp256k1.sharedPoint(parameters.privateKey, ephemeralPublicKey);
  if (!shared) throw unwrapFailed("Its ephemeral public key is not a point on secp256k1.");
  const decipher = createDecipheriv(
    "aes-256-gcm",
    deriveWrapKey(shared, ephemeralPublicKey, recipientPublicKey),
    nonce,
    {
      authTagLength: TAG_BYTES,
    },
  );
  decipher.setAAD(wrapAad(ephemeralPublicKey, recipientPublicKey, parameters.context));
  decipher.setAuthTag(tag);
  const share = decipher.update(body);
  try {
    decipher.final();
  } catch (cause) {
    throw unwrapFailed("It was wrapped to another keyholder, for another context, or was changed.", cause);
  }
  return new Uint8Array(share);
}

function deriveWrapKey(
  sharedPoint: Uint8Array,
  ephemeralPublicKey: Uint8Array,
  recipientPublicKey: Uint8Array,
): Buffer {
  // The x coordinate alone, as SEC 1's ECDH primitive outputs; the compressed point's first
  // byte only says which of two y values it is and adds nothing secret.
  const z = sharedPoint.subarray(1);
  return Buffer.from(hkdfSync("sha256", z, Buffer.concat([ephemeralPublicKey, recipientPublicKey]), LABEL, 32));
}

function wrapAad(ephemeralPublicKey: Uint8Array, recipientPublicKey: Uint8Array, context: Uint8Array): Buffer {
  return Buffer.concat([LABEL, ephemeralPublicKey, recipientPublicKey, context]);
}

function unwrapFailed(detail: string, cause?: unknown): WorkerError {
  return new WorkerError("SHARE_UNWRAP_FAILED", `The wrapped key share cannot be opened. ${detail}`, {
    cause,
    hints: ["Check that the share was wrapped to this keyholder's registered public key for this submission."],
  });
}
