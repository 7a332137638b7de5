import type { Address, Hex } from "viem";
import { z } from "zod";
import { submissionAssociatedData } from "../ingest/createSubmissionService.ts";
import { WorkerError } from "../internal/WorkerError.ts";

/**
 * The JSON manifest the submission service stores on IPFS next to each encrypted submission
 * (createSubmissionService's `storeData`): what was submitted, where its ciphertext is, and the
 * data key's shares wrapped to the committee then in force. Its CID is what run specs list.
 *
 * Version 2 is what the worker writes. Version 1 also carried the ciphertext's SHA-256, which the
 * ciphertext's CID already binds; it is still read, and its hash still checked, so that
 * submissions stored before the change can be trained on.
 */
export type SubmissionManifest = {
  version: 1 | 2;
  submissionId: Hex;
  contributor: Address;
  dataHash: Hex;
  size: string;
  ciphertext: string;
  /** Version 1 only. */
  ciphertextSha256?: Hex;
  associatedData: Hex;
  committee: { id: string; threshold: number; shares: { member: Address; publicKey: Hex; wrappedShare: Hex }[] };
};

const hex = (bytes?: number) =>
  z.string().regex(bytes === undefined ? /^0x([0-9a-fA-F]{2})*$/ : new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`));

const manifestFields = {
  submissionId: hex(32),
  contributor: hex(20),
  dataHash: hex(32),
  size: z.string().regex(/^[1-9][0-9]*$/),
  ciphertext: z.string().min(10).max(128),
  associatedData: hex(),
  committee: z.object({
    id: z.string().regex(/^[0-9]+$/),
    threshold: z.number().int().min(1).max(255),
    shares: z
      .array(z.object({ member: hex(20), publicKey: hex(33), wrappedShare: hex() }))
      .min(1)
      .max(255),
  }),
};

const manifestSchema = z.discriminatedUnion("version", [
  z.object({ version: z.literal(2), ...manifestFields }),
  z.object({ version: z.literal(1), ...manifestFields, ciphertextSha256: hex(32) }),
]);

/**
 * Parses a submission manifest and checks that it is self-consistent: its associated data (what
 * the ciphertext and every wrapped share are bound to) is the one its own fields give, so the
 * manifest cannot claim one data hash while carrying the shares of another submission.
 */
export function parseSubmissionManifest(bytes: Uint8Array): SubmissionManifest {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new WorkerError("VALIDATION_FAILED", "The submission manifest is not JSON.", { cause });
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    throw new WorkerError("VALIDATION_FAILED", "The document is not a submission manifest.", {
      hints: parsed.error.issues.slice(0, 5).map((issue) => `${issue.path.join(".") || "manifest"}: ${issue.message}.`),
    });
  }
  const manifest = parsed.data as SubmissionManifest;
  const expected = Buffer.from(
    submissionAssociatedData({
      id: manifest.submissionId,
      contributor: manifest.contributor,
      dataHash: manifest.dataHash,
      size: manifest.size,
      committeeId: manifest.committee.id,
    }),
  ).toString("hex");
  if (manifest.associatedData.slice(2).toLowerCase() !== expected) {
    throw new WorkerError("VALIDATION_FAILED", "The submission manifest's associated data does not match its fields.", {
      hints: ["The manifest was edited after it was written; do not use it."],
    });
  }
  if (manifest.committee.threshold > manifest.committee.shares.length) {
    throw new WorkerError("VALIDATION_FAILED", "The submission manifest's threshold exceeds its shares.");
  }
  return manifest;
}

export function hexToBytes(value: string): Uint8Array {
  return Uint8Array.from(Buffer.from(value.slice(2), "hex"));
}
