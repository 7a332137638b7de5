import type { Address, Hex } from "viem";
import {
  keyholderReleaseContext,
  keyholderReleaseSchema,
  signedKeyholderRequestFields,
  signedKeyholderRequestSchema,
  type KeyholderRelease,
  type SignedKeyholderRequest,
} from "./signedKeyholderRequest.ts";

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

export const shareRequestTypes = { ShareRequest: signedKeyholderRequestFields } as const;

/** Bound to the chain and the PolicyRegistry whose approvals the keyholder enforces. */
export function keyholderDomain(chainId: number, policyRegistry: Address) {
  return {
    name: KEYHOLDER_DOMAIN_NAME,
    version: KEYHOLDER_DOMAIN_VERSION,
    chainId,
    verifyingContract: policyRegistry,
  } as const;
}

/**
 * `POST /v1/shares` body. `manifest` is the submission manifest's CID, as the run spec lists it;
 * the signer is the run's operator.
 */
export type ShareRequest = SignedKeyholderRequest;

/** `POST /v1/shares` answer. */
export type ShareRelease = KeyholderRelease;

/** The ECIES context of a released share: it opens only for this run, manifest, keyholder and key. */
export function shareReleaseContext(
  request: Pick<ShareRequest, "runId" | "manifest" | "keyholder" | "ephemeralPublicKey">,
): Uint8Array {
  return keyholderReleaseContext("dao-ai/share-release/v1", request);
}

export const shareRequestSchema = signedKeyholderRequestSchema;

export const shareReleaseSchema = keyholderReleaseSchema;

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
