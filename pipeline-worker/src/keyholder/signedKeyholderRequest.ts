import type { Hex } from "viem";

/**
 * What a share request (data key, shareRequest.ts) and a model-key request (weights key,
 * modelKeyRequest.ts) have in common: both are EIP-712 messages in the keyholder domain naming a
 * run, a manifest, the keyholder addressed, a fresh ephemeral public key and the time, answered by
 * a share wrapped to that key. They differ only in the primary type, who may sign, and the ECIES
 * context's label, which keeps a share released for one purpose from opening for the other.
 */
export const signedKeyholderRequestFields = [
  { name: "runId", type: "bytes32" },
  { name: "manifest", type: "string" },
  { name: "keyholder", type: "bytes" },
  { name: "ephemeralPublicKey", type: "bytes" },
  { name: "issuedAt", type: "uint64" },
] as const;

/** A signed keyholder request's body. */
export type SignedKeyholderRequest = {
  runId: Hex;
  /** The manifest's CID. */
  manifest: string;
  /** The keyholder's 33-byte compressed public key, as the committee lists it. */
  keyholder: Hex;
  /** A fresh 33-byte compressed secp256k1 public key of the requester's, one per request. */
  ephemeralPublicKey: Hex;
  /** Unix seconds. */
  issuedAt: number;
  /** The requester's EIP-712 signature over the fields above. */
  signature: Hex;
  /** The manifest's bytes (UTF-8 JSON), for a keyholder without access to IPFS; checked against the CID. */
  manifestDocument?: string | undefined;
};

/** A signed keyholder request's answer. */
export type KeyholderRelease = {
  runId: Hex;
  manifest: string;
  keyholder: Hex;
  /** The share wrapped to `ephemeralPublicKey` with the request's release context as the context. */
  wrappedShare: Hex;
};

/** The ECIES context of a released share: it opens only for this purpose, run, manifest, keyholder and key. */
export function keyholderReleaseContext(
  label: string,
  request: Pick<SignedKeyholderRequest, "runId" | "manifest" | "keyholder" | "ephemeralPublicKey">,
): Uint8Array {
  return new TextEncoder().encode(
    [
      label,
      request.runId.toLowerCase(),
      request.manifest,
      request.keyholder.toLowerCase(),
      request.ephemeralPublicKey.toLowerCase(),
    ].join("|"),
  );
}

const hex = (bytes: number) => ({ type: "string", pattern: `^0x[0-9a-fA-F]{${bytes * 2}}$` });

export const signedKeyholderRequestSchema = {
  type: "object",
  additionalProperties: false,
  required: ["runId", "manifest", "keyholder", "ephemeralPublicKey", "issuedAt", "signature"],
  properties: {
    runId: hex(32),
    manifest: { type: "string", pattern: "^[a-zA-Z0-9]{10,128}$" },
    keyholder: hex(33),
    ephemeralPublicKey: hex(33),
    issuedAt: { type: "integer", minimum: 0, maximum: 2 ** 53 - 1 },
    signature: { type: "string", pattern: "^0x[0-9a-fA-F]+$", maxLength: 2 + 65 * 2 },
    manifestDocument: { type: "string", maxLength: 1024 * 1024 },
  },
} as const;

export const keyholderReleaseSchema = {
  type: "object",
  required: ["runId", "manifest", "keyholder", "wrappedShare"],
  properties: {
    runId: { type: "string" },
    manifest: { type: "string" },
    keyholder: { type: "string" },
    wrappedShare: { type: "string" },
  },
} as const;
