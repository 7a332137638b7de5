import type { Address, Hex } from "viem";
import { z } from "zod";
import { submissionAssociatedData } from "../ingest/createSubmissionService.ts";
import { manifestCommitteeSchema, manifestHex, parseSealedManifest } from "./parseSealedManifest.ts";

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

const manifestFields = {
  submissionId: manifestHex(32),
  contributor: manifestHex(20),
  dataHash: manifestHex(32),
  size: z.string().regex(/^[1-9][0-9]*$/),
  ciphertext: z.string().min(10).max(128),
  associatedData: manifestHex(),
  committee: manifestCommitteeSchema,
};

const manifestSchema = z.discriminatedUnion("version", [
  z.object({ version: z.literal(2), ...manifestFields }),
  z.object({ version: z.literal(1), ...manifestFields, ciphertextSha256: manifestHex(32) }),
]);

/**
 * Parses a submission manifest and checks that it is self-consistent: its associated data (what
 * the ciphertext and every wrapped share are bound to) is the one its own fields give, so the
 * manifest cannot claim one data hash while carrying the shares of another submission.
 */
export function parseSubmissionManifest(bytes: Uint8Array): SubmissionManifest {
  return parseSealedManifest<SubmissionManifest>(bytes, "submission", manifestSchema, (manifest) =>
    submissionAssociatedData({
      id: manifest.submissionId,
      contributor: manifest.contributor,
      dataHash: manifest.dataHash,
      size: manifest.size,
      committeeId: manifest.committee.id,
    }),
  );
}

export function hexToBytes(value: string): Uint8Array {
  return Uint8Array.from(Buffer.from(value.slice(2), "hex"));
}
