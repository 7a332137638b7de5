import type { Address, Hex } from "viem";
import type { OffchainAttestation } from "./checkAttestations.ts";

/**
 * What a contributor sends first (`POST /v1/submissions`): the signed claim about the data, and
 * the attestations that back it. The data itself follows, streamed, to the upload URL.
 */
export type SubmissionEnvelope = {
  contributor: Address;
  /** SHA-256 of the data, 0x-hex. */
  dataHash: Hex;
  /** The data's size in bytes, as a decimal string. */
  size: string;
  /** Any unused number of the contributor's, as a decimal string. */
  nonce: string;
  /** Unix seconds after which the signature no longer counts; the upload must start before it. */
  deadline: number;
  /** The chain the contributor signed for; the worker refuses another. */
  chainId: number;
  /** EIP-712 signature over Submission(contributor, dataHash, size, nonce, deadline). */
  signature: Hex;
  attestations: { onchain: Hex[]; offchain: OffchainAttestation[] };
};

const hex = (bytes: number) => ({ type: "string", pattern: `^0x[0-9a-fA-F]{${bytes * 2}}$` });
const address = hex(20);
const decimal = { type: "string", pattern: "^(0|[1-9][0-9]{0,77})$" };

/** JSON schema of the envelope, enforced by the API before any check runs. */
export const submissionEnvelopeSchema = {
  type: "object",
  additionalProperties: false,
  required: ["contributor", "dataHash", "size", "nonce", "deadline", "chainId", "signature", "attestations"],
  properties: {
    contributor: address,
    dataHash: hex(32),
    size: decimal,
    nonce: decimal,
    deadline: { type: "integer", minimum: 0, maximum: 2 ** 53 - 1 },
    chainId: { type: "integer", minimum: 1, maximum: 2 ** 53 - 1 },
    signature: { type: "string", pattern: "^0x[0-9a-fA-F]+$", maxLength: 2 + 65 * 2 },
    attestations: {
      type: "object",
      additionalProperties: false,
      required: ["onchain", "offchain"],
      properties: {
        onchain: { type: "array", maxItems: 16, items: hex(32) },
        offchain: {
          type: "array",
          maxItems: 16,
          items: {
            type: "object",
            additionalProperties: false,
            required: ["attester", "attestation"],
            properties: {
              attester: address,
              // The EAS SDK's signed attestation object; its shape is checked by the SDK's verifier.
              attestation: { type: "object" },
            },
          },
        },
      },
    },
  },
} as const;
