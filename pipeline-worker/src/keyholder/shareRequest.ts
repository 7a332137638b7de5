import type { Address, Hex } from "viem";

/**
 * The authenticated channel between a training run's operator and a keyholder. The operator signs
 * an EIP-712 ShareRequest with its worker account (the address the DAO approved as the run's
 * operator), naming the run, the submission's manifest, the keyholder it is addressed to, a fresh
 * ephemeral public key and the time. The keyholder answers with its share re-wrapped (ECIES, as
 * docs/crypto-formats.md specifies) to that ephemeral key, bound to `shareReleaseContext`, so the
 * share never travels in clear and only the holder of the ephemeral private key (the operator
 * that made the request) can open it. A replayed request gets a share that only that same
 * ephemeral key opens, so replays need no nonce: `issuedAt` only bounds how long a request lives.
 */
export const KEYHOLDER_DOMAIN_NAME = "DAO AI Keyholder";
export const KEYHOLDER_DOMAIN_VERSION = "1";

export const shareRequestTypes = {
  ShareRequest: [
    { name: "runId", type: "bytes32" },
    { name: "manifest", type: "string" },
    { name: "keyholder", type: "bytes" },
    { name: "ephemeralPublicKey", type: "bytes" },
    { name: "issuedAt", type: "uint64" },
  ],
} as const;

/** Bound to the chain and the PolicyRegistry whose approvals the keyholder enforces. */
export function keyholderDomain(chainId: number, policyRegistry: Address) {
  return {
    name: KEYHOLDER_DOMAIN_NAME,
    version: KEYHOLDER_DOMAIN_VERSION,
    chainId,
    verifyingContract: policyRegistry,
  } as const;
}

/** `POST /v1/shares` body. */
export type ShareRequest = {
  runId: Hex;
  /** The submission manifest's CID, as the run spec lists it. */
  manifest: string;
  /** The keyholder's 33-byte compressed public key, as the committee lists it. */
  keyholder: Hex;
  /** A fresh 33-byte compressed secp256k1 public key of the requester's, one per request. */
  ephemeralPublicKey: Hex;
  /** Unix seconds. */
  issuedAt: number;
  /** The operator's EIP-712 signature over the fields above. */
  signature: Hex;
  /** The manifest's bytes (UTF-8 JSON), for a keyholder without access to IPFS; checked against the CID. */
  manifestDocument?: string | undefined;
};

/** `POST /v1/shares` answer. */
export type ShareRelease = {
  runId: Hex;
  manifest: string;
  keyholder: Hex;
  /** The share wrapped to `ephemeralPublicKey` with `shareReleaseContext` as the context. */
  wrappedShare: Hex;
};

/** The ECIES context of a released share: it opens only for this run, manifest, keyholder and key. */
export function shareReleaseContext(
  request: Pick<ShareRequest, "runId" | "manifest" | "keyholder" | "ephemeralPublicKey">,
): Uint8Array {
  return new TextEncoder().encode(
    [
      "dao-ai/share-release/v1",
      request.runId.toLowerCase(),
      request.manifest,
      request.keyholder.toLowerCase(),
      request.ephemeralPublicKey.toLowerCase(),
    ].join("|"),
  );
}

const hex = (bytes: number) => ({ type: "string", pattern: `^0x[0-9a-fA-F]{${bytes * 2}}$` });

export const shareRequestSchema = {
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

export const shareReleaseSchema = {
  type: "object",
  required: ["runId", "manifest", "keyholder", "wrappedShare"],
  properties: {
    runId: { type: "string" },
    manifest: { type: "string" },
    keyholder: { type: "string" },
    wrappedShare: { type: "string" },
  },
} as const;

/**
 * `PUT /v1/runs/:runId/spec` is authorised by the run's operator, in the `Authorization` header
 * (`RunOperator issuedAt=<unix seconds> signature=<0x EIP-712 signature>`), so that a keyholder
 * reads no body and the chain no further for anyone else. The spec's bytes need no signature:
 * their SHA-256 must be the approved specHash in any case.
 */
export const specUploadTypes = {
  SpecUpload: [
    { name: "runId", type: "bytes32" },
    { name: "keyholder", type: "bytes" },
    { name: "issuedAt", type: "uint64" },
  ],
} as const;

export const SPEC_UPLOAD_SCHEME = "RunOperator";

export type SpecUploadAuthorization = { issuedAt: number; signature: Hex };

export function formatSpecUploadAuthorization(authorization: SpecUploadAuthorization): string {
  return `${SPEC_UPLOAD_SCHEME} issuedAt=${authorization.issuedAt} signature=${authorization.signature}`;
}

/** The header's fields, or undefined when it is missing or not of this scheme. */
export function parseSpecUploadAuthorization(header: string | undefined): SpecUploadAuthorization | undefined {
  const match = /^RunOperator issuedAt=(\d{1,15}) signature=(0x[0-9a-fA-F]{130})$/.exec(header?.trim() ?? "");
  if (!match) return undefined;
  return { issuedAt: Number(match[1]), signature: match[2] as Hex };
}
