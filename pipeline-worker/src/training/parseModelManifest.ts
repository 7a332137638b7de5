import { z } from "zod";
import { WorkerError } from "../internal/WorkerError.ts";
import { MODEL_MANIFEST_FORMAT, modelAssociatedData, type ModelManifest } from "./encryptModelWeights.ts";

const hex = (bytes?: number) =>
  z.string().regex(bytes === undefined ? /^0x([0-9a-fA-F]{2})*$/ : new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`));

const modelManifestSchema = z.object({
  format: z.literal(MODEL_MANIFEST_FORMAT),
  runId: hex(32),
  weightsHash: hex(32),
  trainingSetHash: hex(32),
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
});

/**
 * Parses a model manifest (what encryptModelWeights stores) and checks that its associated data
 * (what the ciphertext and every wrapped share are bound to) is the one its own fields give, so a
 * manifest cannot name one run's weights while carrying the shares of another model.
 */
export function parseModelManifest(bytes: Uint8Array): ModelManifest {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new WorkerError("VALIDATION_FAILED", "The model manifest is not JSON.", { cause });
  }
  const parsed = modelManifestSchema.safeParse(json);
  if (!parsed.success) {
    throw new WorkerError("VALIDATION_FAILED", "The document is not a model manifest.", {
      hints: parsed.error.issues.slice(0, 5).map((issue) => `${issue.path.join(".") || "manifest"}: ${issue.message}.`),
    });
  }
  const manifest = parsed.data as ModelManifest;
  const expected = Buffer.from(
    modelAssociatedData({ ...manifest, committeeId: BigInt(manifest.committee.id) }),
  ).toString("hex");
  if (manifest.associatedData.slice(2).toLowerCase() !== expected) {
    throw new WorkerError("VALIDATION_FAILED", "The model manifest's associated data does not match its fields.", {
      hints: ["The manifest was edited after it was written; do not use it."],
    });
  }
  if (manifest.committee.threshold > manifest.committee.shares.length) {
    throw new WorkerError("VALIDATION_FAILED", "The model manifest's threshold exceeds its shares.");
  }
  return manifest;
}
