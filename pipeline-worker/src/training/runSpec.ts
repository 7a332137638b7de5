import { createHash } from "node:crypto";
import { getAddress, type Address, type Hex } from "viem";
import { z } from "zod";
import { WorkerError } from "../internal/WorkerError.ts";

export const RUN_SPEC_FORMAT = "dao-ai/training-run-spec/v1";

/** The largest spec document accepted, in bytes (about 50,000 submissions). */
export const MAX_RUN_SPEC_BYTES = 8 * 1024 * 1024;

/**
 * What a training run may train on, as the DAO approves it: governance votes on the SHA-256 of
 * this document's exact bytes (`approveTrainingRun(runId, specHash, operator, expiresAt)`), and
 * keyholders release key shares only for the submissions it lists. Each entry names a submission
 * by its manifest's CID and its attested data hash, so neither can be swapped after the vote.
 */
export type RunSpec = {
  format: typeof RUN_SPEC_FORMAT;
  /** The chain and the ContributorRewards the submissions were recorded in. */
  chainId: number;
  contributorRewards: Address;
  /** The embedded model's feature settings the run will train with. */
  model: { kind: "embedded"; dimensions: number; ngrams: 1 | 2 };
  /** Sorted by data hash, no duplicates. */
  submissions: RunSpecEntry[];
};

export type RunSpecEntry = { manifest: string; dataHash: Hex };

const specSchema = z.strictObject({
  format: z.literal(RUN_SPEC_FORMAT),
  chainId: z.number().int().positive(),
  contributorRewards: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
  model: z.strictObject({
    kind: z.literal("embedded"),
    dimensions: z
      .number()
      .int()
      .min(16)
      .max(1 << 20),
    ngrams: z.union([z.literal(1), z.literal(2)]),
  }),
  submissions: z
    .array(
      z.strictObject({
        manifest: z.string().regex(/^[a-zA-Z0-9]{10,128}$/),
        dataHash: z.string().regex(/^0x[0-9a-f]{64}$/),
      }),
    )
    .min(1),
});

/**
 * The canonical bytes of a spec: JSON with keys in a fixed order, entries sorted by data hash.
 * Whoever builds the spec publishes these bytes (on IPFS, in the proposal); their SHA-256 is
 * what is voted on.
 */
export function encodeRunSpec(spec: RunSpec): Uint8Array {
  const submissions = normaliseEntries(spec.submissions);
  return new TextEncoder().encode(
    JSON.stringify({
      format: spec.format,
      chainId: spec.chainId,
      contributorRewards: getAddress(spec.contributorRewards),
      model: { kind: spec.model.kind, dimensions: spec.model.dimensions, ngrams: spec.model.ngrams },
      submissions: submissions.map((entry) => ({ manifest: entry.manifest, dataHash: entry.dataHash })),
    }),
  );
}

/**
 * Reads a spec document. It must be exactly canonical (re-encoding gives the same bytes), so that
 * a document and its hash identify each other and two readers never disagree on what it lists.
 */
export function decodeRunSpec(bytes: Uint8Array): RunSpec {
  if (bytes.byteLength > MAX_RUN_SPEC_BYTES) {
    throw new WorkerError("PAYLOAD_TOO_LARGE", `A run spec is at most ${MAX_RUN_SPEC_BYTES} bytes.`);
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new WorkerError("VALIDATION_FAILED", "The run spec is not JSON.", { cause });
  }
  const parsed = specSchema.safeParse(json);
  if (!parsed.success) {
    throw new WorkerError("VALIDATION_FAILED", `The run spec is not a ${RUN_SPEC_FORMAT} document.`, {
      hints: parsed.error.issues.slice(0, 5).map((issue) => `${issue.path.join(".") || "spec"}: ${issue.message}.`),
    });
  }
  const spec = parsed.data as RunSpec;
  if (!Buffer.from(encodeRunSpec(spec)).equals(Buffer.from(bytes))) {
    throw new WorkerError("VALIDATION_FAILED", "The run spec is not in canonical form.", {
      hints: ["Write it with encodeRunSpec: keys in order, no whitespace, entries sorted by data hash, no duplicates."],
    });
  }
  return spec;
}

/** SHA-256 of the spec's bytes, 0x-hex: the `specHash` the DAO approves. */
export function runSpecHash(bytes: Uint8Array): Hex {
  return `0x${createHash("sha256").update(bytes).digest("hex")}`;
}

function normaliseEntries(entries: readonly RunSpecEntry[]): RunSpecEntry[] {
  const byHash = new Map<string, RunSpecEntry>();
  for (const entry of entries) {
    const dataHash = entry.dataHash.toLowerCase() as Hex;
    if (byHash.has(dataHash)) {
      throw new WorkerError("VALIDATION_FAILED", `The run spec lists data hash ${dataHash} twice.`);
    }
    byHash.set(dataHash, { manifest: entry.manifest, dataHash });
  }
  return [...byHash.values()].sort((a, b) => (a.dataHash < b.dataHash ? -1 : 1));
}
