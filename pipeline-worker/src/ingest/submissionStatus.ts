import type { SubmissionRecord } from "../storage/createJournal.ts";
import type { SubmissionEnvelope, SubmissionStatus, SubmissionValidation } from "../api/submissionWire.ts";

const STATES = {
  received: "awaiting_data",
  verified: "awaiting_data",
  stored: "stored",
  submitted: "recording",
  recorded: "recorded",
  withdrawn: "withdrawn",
  rejected: "rejected",
} as const;

/** A journaled submission as the API shows it (submissionWire.ts declares the shape). */
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
