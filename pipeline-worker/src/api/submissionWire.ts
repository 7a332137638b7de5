import type { SignedOffchainAttestation } from "@ethereum-attestation-service/eas-sdk";
import type { Hex } from "viem";
import { z } from "zod";
import { addressSchema, bytes32Schema, uint256Schema, uint64Schema } from "./wireScalars.ts";

/**
 * The wire shapes of the worker's submission routes (`POST /v1/submissions`, `PUT
 * /v1/submissions/:id/data`, `GET /v1/submissions[/:id]`), declared once for the worker (Fastify's
 * JSON schemas derive from them), its tests and its clients: the package exports this file as
 * `@dao-ai/pipeline-worker/submission-api`.
 */

/**
 * An off-chain attestation with the attester it is from. The attestation is the EAS SDK's signed
 * object; its shape is checked by the SDK's verifier (ingest/checkAttestations.ts), so that a
 * malformed one is refused with the attestation codes rather than a schema error.
 */
const offchainAttestationSchema = z.strictObject({
  attester: addressSchema,
  attestation: z.looseObject({}).transform((value) => value as unknown as SignedOffchainAttestation),
});

/**
 * What a contributor sends first (`POST /v1/submissions`): the signed claim about the data, and
 * the attestations that back it. The data itself follows, streamed, to the upload URL.
 */
export const submissionEnvelopeSchema = z.strictObject({
  contributor: addressSchema,
  /** SHA-256 of the data. */
  dataHash: bytes32Schema,
  /** The data's size in bytes (the Submission's uint64 `size`). */
  size: uint64Schema,
  /** Any unused number of the contributor's (the Submission's uint256 `nonce`). */
  nonce: uint256Schema,
  /** Unix seconds after which the signature no longer counts; the upload must start before it. */
  deadline: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
  /** The chain the contributor signed for; the worker refuses another. */
  chainId: z.int().min(1).max(Number.MAX_SAFE_INTEGER),
  /** EIP-712 signature over Submission(contributor, dataHash, size, nonce, deadline): 65 bytes. */
  signature: z
    .string()
    .max(2 + 65 * 2, { error: "must be at most 65 bytes" })
    .regex(/^0x[0-9a-fA-F]+$/, { error: "must be 0x and hex digits" })
    .transform((value) => value as Hex),
  attestations: z.strictObject({
    onchain: z.array(bytes32Schema).max(16),
    offchain: z.array(offchainAttestationSchema).max(16),
  }),
});
export type SubmissionEnvelope = z.infer<typeof submissionEnvelopeSchema>;
/** The envelope as a client writes it (the same JSON; addresses and hashes as plain strings). */
export type SubmissionEnvelopeInput = z.input<typeof submissionEnvelopeSchema>;

/**
 * What ingest found in a submission's data (JSON Lines of {text, label}, docs/model.md), once it
 * was accepted: `records` valid records, of which `duplicates` repeat a record already in the pool
 * (or earlier in the file) after normalisation and `nearDuplicates` nearly do (MinHash); `weight`,
 * its reward weight recorded on chain, is the rest: records - duplicates - nearDuplicates.
 */
export const submissionValidationSchema = z.object({
  records: z.int(),
  duplicates: z.int(),
  nearDuplicates: z.int(),
  weight: z.int(),
});
export type SubmissionValidation = z.infer<typeof submissionValidationSchema>;

/** A submission as the API shows it: what a contributor needs to follow it, nothing secret. */
export const submissionStatusSchema = z.object({
  id: z.string(),
  contributor: z.string(),
  dataHash: z.string(),
  /** The data's size in bytes, as a decimal string. */
  size: z.string(),
  /**
   * awaiting_data -> stored -> recording -> recorded (-> withdrawn, once its contributor withdrew
   * it on chain and the worker unpinned it), or rejected.
   */
  state: z.enum(["awaiting_data", "stored", "recording", "recorded", "withdrawn", "rejected"]),
  /** Where the data goes while the submission awaits it (PUT, with the POST's upload token). */
  uploadUrl: z.string().nullable(),
  manifestCid: z.string().nullable(),
  ciphertextCid: z.string().nullable(),
  transactionHash: z.string().nullable(),
  rejection: z.object({ code: z.string(), detail: z.string() }).nullable(),
  /** What ingest found in the data, from `stored` on; null before the data arrived or when refused. */
  validation: submissionValidationSchema.nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type SubmissionStatus = z.infer<typeof submissionStatusSchema>;

/**
 * The answer to an accepted POST: the status and the upload token, the capability to upload the
 * data. Only this answer has the token; every other route answers with `submissionStatusSchema`,
 * whose serialiser drops any member it does not list.
 */
export const begunSubmissionSchema = submissionStatusSchema.extend({ uploadToken: z.string() });
export type BegunSubmission = z.infer<typeof begunSubmissionSchema>;

/** `GET /v1/submissions?contributor=`: the contributor's submissions at this worker. */
export const submissionListSchema = z.object({ submissions: z.array(submissionStatusSchema) });
export type SubmissionList = z.infer<typeof submissionListSchema>;
