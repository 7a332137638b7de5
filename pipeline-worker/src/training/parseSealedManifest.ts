import { z } from "zod";
import { WorkerError } from "../internal/WorkerError.ts";

/** A 0x hex string: of `bytes` bytes when given, else of any whole number of bytes. */
export const manifestHex = (bytes?: number) =>
  z.string().regex(bytes === undefined ? /^0x([0-9a-fA-F]{2})*$/ : new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`));

/** The committee a sealed manifest's key was split to, with each share wrapped to one keyholder. */
export const manifestCommitteeSchema = z.object({
  id: z.string().regex(/^[0-9]+$/),
  threshold: z.number().int().min(1).max(255),
  shares: z
    .array(z.object({ member: manifestHex(20), publicKey: manifestHex(33), wrappedShare: manifestHex() }))
    .min(1)
    .max(255),
});

type SealedManifest = { associatedData: string; committee: { threshold: number; shares: unknown[] } };

/**
 * Parses a manifest of encrypted content with its key's shares (a submission's or a model's) and
 * checks that it is self-consistent: its associated data (what the ciphertext and every wrapped
 * share are bound to) is the one `associatedData` computes from its own fields, so it cannot name
 * one thing while carrying the shares of another, and its threshold can be met by its shares.
 */
export function parseSealedManifest<T extends SealedManifest>(
  bytes: Uint8Array,
  kind: "submission" | "model",
  schema: z.ZodType,
  associatedData: (manifest: T) => Uint8Array,
): T {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new WorkerError("VALIDATION_FAILED", `The ${kind} manifest is not JSON.`, { cause });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new WorkerError("VALIDATION_FAILED", `The document is not a ${kind} manifest.`, {
      hints: parsed.error.issues.slice(0, 5).map((issue) => `${issue.path.join(".") || "manifest"}: ${issue.message}.`),
    });
  }
  const manifest = parsed.data as T;
  const expected = Buffer.from(associatedData(manifest)).toString("hex");
  if (manifest.associatedData.slice(2).toLowerCase() !== expected) {
    throw new WorkerError("VALIDATION_FAILED", `The ${kind} manifest's associated data does not match its fields.`, {
      hints: ["The manifest was edited after it was written; do not use it."],
    });
  }
  if (manifest.committee.threshold > manifest.committee.shares.length) {
    throw new WorkerError("VALIDATION_FAILED", `The ${kind} manifest's threshold exceeds its shares.`);
  }
  return manifest;
}
