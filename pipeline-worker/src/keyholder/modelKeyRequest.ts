import type { Hex } from "viem";

/**
 * The channel between a serving worker and a keyholder for a committed model's weights key. The
 * worker signs an EIP-712 ModelKeyRequest with its worker account (an address the DAO authorised
 * with `setWorker`), in the keyholder domain of shareRequest.ts, naming the run, the model
 * manifest committed for it, the keyholder it is addressed to, a fresh ephemeral public key and
 * the time. The keyholder answers with its share of the weights key re-wrapped (ECIES) to that
 * ephemeral key, bound to `modelKeyReleaseContext`: only the worker that made the request can
 * open it, and a replayed request gets a share that only that same ephemeral key opens.
 */
export const modelKeyRequestTypes = {
  ModelKeyRequest: [
    { name: "runId", type: "bytes32" },
    { name: "manifest", type: "string" },
    { name: "keyholder", type: "bytes" },
    { name: "ephemeralPublicKey", type: "bytes" },
    { name: "issuedAt", type: "uint64" },
  ],
} as const;

/** `POST /v1/model-keys` body. */
export type ModelKeyRequest = {
  runId: Hex;
  /** The model manifest's CID: the one `ipfs://<CID>` committed as the run's encryptedWeightsURI. */
  manifest: string;
  /** The keyholder's 33-byte compressed public key, as the manifest's committee lists it. */
  keyholder: Hex;
  /** A fresh 33-byte compressed secp256k1 public key of the worker's, one per model load. */
  ephemeralPublicKey: Hex;
  /** Unix seconds. */
  issuedAt: number;
  /** The worker's EIP-712 signature over the fields above. */
  signature: Hex;
  /** The manifest's bytes (UTF-8 JSON), for a keyholder without access to IPFS; checked against the CID. */
  manifestDocument?: string | undefined;
};

/** `POST /v1/model-keys` answer. */
export type ModelKeyRelease = {
  runId: Hex;
  manifest: string;
  keyholder: Hex;
  /** The share wrapped to `ephemeralPublicKey` with `modelKeyReleaseContext` as the context. */
  wrappedShare: Hex;
};

/** The ECIES context of a released weights-key share; distinct from a data-key share's. */
export function modelKeyReleaseContext(
  request: Pick<ModelKeyRequest, "runId" | "manifest" | "keyholder" | "ephemeralPublicKey">,
): Uint8Array {
  return new TextEncoder().encode(
    [
      "dao-ai/model-key-release/v1",
      request.runId.toLowerCase(),
      request.manifest,
      request.keyholder.toLowerCase(),
      request.ephemeralPublicKey.toLowerCase(),
    ].join("|"),
  );
}

const hex = (bytes: number) => ({ type: "string", pattern: `^0x[0-9a-fA-F]{${bytes * 2}}$` });

export const modelKeyRequestSchema = {
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

export const modelKeyReleaseSchema = {
  type: "object",
  required: ["runId", "manifest", "keyholder", "wrappedShare"],
  properties: {
    runId: { type: "string" },
    manifest: { type: "string" },
    keyholder: { type: "string" },
    wrappedShare: { type: "string" },
  },
} as const;
