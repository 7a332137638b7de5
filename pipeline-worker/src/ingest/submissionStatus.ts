import type { SubmissionRecord } from "../storage/createJournal.ts";
import type { SubmissionEnvelope } from "./submissionEnvelope.ts";

/**
 * What ingest found in a submission's data (JSON Lines of {text, label}, docs/model.md), once it
 * was accepted: `records` valid records, of which `duplicates` repeat a record already in the pool
 * (or earlier in the file) after normalisation and `nearDuplicates` nearly do (MinHash); `weight`,
 * its reward weight recorded on chain, is the rest: records - duplicates - nearDuplicates.
 */
export type SubmissionValidation = {
  records: number;
  duplicates: number;
  nearDuplicates: number;
  weight: number;
};

/** A submission as the API shows it: what a contributor needs to follow it, nothing secret. */
export type SubmissionStatus = {
  id: string;
  contributor: string;
  dataHash: string;
  size: string;
  /**
   * awaiting_data -> stored -> recording -> recorded (-> withdrawn, once its contributor withdrew
   * it on chain and the worker unpinned it), or rejected.
   */
  state: "awaiting_data" | "stored" | "recording" | "recorded" | "withdrawn" | "rejected";
  /** Where the data goes while the submission awaits it (PUT, with the POST's upload token). */
  uploadUrl: string | null;
  manifestCid: string | null;
  ciphertextCid: string | null;
  transactionHash: string | null;
  rejection: { code: string; detail: string } | null;
  /** What ingest found in the data, from `stored` on; null before the data arrived or when refused. */
  validation: SubmissionValidation | null;
  createdAt: string;
  updatedAt: string;
};

const STATES = {
  received: "awaiting_data",
  verified: "awaiting_data",
  stored: "stored",
  submitted: "recording",
  recorded: "recorded",
  withdrawn: "withdrawn",
  rejected: "rejected",
} as const;

export function submissionStatus(record: SubmissionRecord): SubmissionStatus {
  const envelope = record.data.received?.envelope as SubmissionEnvelope | undefined;
  const stored = record.data.stored as
    { manifest?: string; ciphertext?: string; validation?: SubmissionValidation } | undefined;
  const tx = (record.data.recorded ?? record.data.submitted) as { transactionHash?: string } | undefined;
  const rejected = record.data.rejected as { code: string; detail: string } | undefined;
  const state = STATES[record.step];
  return {
    id: record.id,
    contributor: record.contributor,
    dataHash: envelope?.dataHash ?? "",
    size: envelope?.size ?? "0",
    state,
    uploadUrl: state === "awaiting_data" ? `/v1/submissions/${record.id}/data` : null,
    manifestCid: stored?.manifest ?? null,
    ciphertextCid: stored?.ciphertext ?? null,
    transactionHash: tx?.transactionHash ?? null,
    rejection: rejected ?? null,
    validation: stored?.validation ?? null,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}

/** JSON schema of a SubmissionStatus, for the API's responses. */
export const submissionStatusSchema = {
  type: "object",
  required: [
    "id",
    "contributor",
    "dataHash",
    "size",
    "state",
    "uploadUrl",
    "manifestCid",
    "ciphertextCid",
    "transactionHash",
    "rejection",
    "validation",
    "createdAt",
    "updatedAt",
  ],
  properties: {
    id: { type: "string" },
    contributor: { type: "string" },
    dataHash: { type: "string" },
    size: { type: "string" },
    state: { type: "string", enum: ["awaiting_data", "stored", "recording", "recorded", "withdrawn", "rejected"] },
    uploadUrl: { type: ["string", "null"] },
    manifestCid: { type: ["string", "null"] },
    ciphertextCid: { type: ["string", "null"] },
    transactionHash: { type: ["string", "null"] },
    rejection: {
      anyOf: [
        { type: "null" },
        {
          type: "object",
          required: ["code", "detail"],
          properties: { code: { type: "string" }, detail: { type: "string" } },
        },
      ],
    },
    validation: {
      anyOf: [
        { type: "null" },
        {
          type: "object",
          required: ["records", "duplicates", "nearDuplicates", "weight"],
          properties: {
            records: { type: "integer" },
            duplicates: { type: "integer" },
            nearDuplicates: { type: "integer" },
            weight: { type: "integer" },
          },
        },
      ],
    },
    createdAt: { type: "string" },
    updatedAt: { type: "string" },
  },
} as const;

/**
 * JSON schema of the answer to an accepted POST: the status and the upload token. Only this
 * answer has the token; every other route answers with `submissionStatusSchema`, whose serialiser
 * drops any member it does not list.
 */
export const begunSubmissionSchema = {
  ...submissionStatusSchema,
  required: [...submissionStatusSchema.required, "uploadToken"],
  properties: { ...submissionStatusSchema.properties, uploadToken: { type: "string" } },
} as const;
