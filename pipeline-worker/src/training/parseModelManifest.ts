import { z } from "zod";
import { MODEL_MANIFEST_FORMAT, modelAssociatedData, type ModelManifest } from "./encryptModelWeights.ts";
import { manifestCommitteeSchema, manifestHex, parseSealedManifest } from "./parseSealedManifest.ts";

const modelManifestSchema = z.object({
  format: z.literal(MODEL_MANIFEST_FORMAT),
  runId: manifestHex(32),
  weightsHash: manifestHex(32),
  trainingSetHash: manifestHex(32),
  size: z.string().regex(/^[1-9][0-9]*$/),
  ciphertext: z.string().min(10).max(128),
  associatedData: manifestHex(),
  committee: manifestCommitteeSchema,
});

/**
 * Parses a model manifest (what encryptModelWeights stores) and checks that its associated data
 * (what the ciphertext and every wrapped share are bound to) is the one its own fields give, so a
 * manifest cannot name one run's weights while carrying the shares of another model.
 */
export function parseModelManifest(bytes: Uint8Array): ModelManifest {
  return parseSealedManifest<ModelManifest>(bytes, "model", modelManifestSchema, (manifest) =>
    modelAssociatedData({ ...manifest, committeeId: BigInt(manifest.committee.id) }),
  );
}
