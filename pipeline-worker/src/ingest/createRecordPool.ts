import { mkdir } from "node:fs/promises";
import { ClassicLevel } from "classic-level";
import { WorkerError } from "../internal/WorkerError.ts";
import {
  bandKeys,
  BANDS,
  MINHASH_PERMUTATIONS,
  NEAR_DUPLICATE_THRESHOLD,
  ROWS,
  similarity,
  type RecordFingerprint,
} from "./recordFingerprint.ts";
import type { SubmissionValidation } from "./submissionStatus.ts";

/** The pool's format: its fingerprints are only comparable with others of the same parameters. */
const FORMAT = `dao-ai/record-pool/v1 minhash=${MINHASH_PERMUTATIONS} bands=${BANDS}x${ROWS} bigrams`;
/**
 * Record keys kept per LSH bucket. A bucket this full is a crowd of near-identical texts already;
 * a newcomer that falls in it is still compared with the first ones, which is where a copy of
 * them would match.
 */
const BUCKET_CAPACITY = 8;

// Key layout. One LevelDB batch admits a submission's unique records, so a crash leaves the pool
// with all of them or none.
//   meta!format        -> FORMAT
//   r!<record key>     -> the id of the submission that brought the record
//   m!<record key>     -> its MinHash signature (base64 of MINHASH_PERMUTATIONS uint32, little-endian)
//   b!<band bucket>    -> JSON array of up to BUCKET_CAPACITY record keys in that LSH bucket

export type RecordPool = {
  /**
   * Counts a submission's records against the pool and, if any is unique, adds those to it, all
   * in one step that no other admission interleaves with. A record is a duplicate when its
   * normalised text is in the pool or earlier in the file, and a near duplicate when its
   * signature is within NEAR_DUPLICATE_THRESHOLD of one that is; neither earns (weight). Records
   * that `submissionId` itself brought before (an upload retried after a crash) are its own, not
   * duplicates. Nothing is written when the weight is 0.
   */
  admit(submissionId: string, records: readonly RecordFingerprint[]): Promise<SubmissionValidation>;
  close(): Promise<void>;
};

export type CreateRecordPoolParameters = {
  directory: string;
  /** fsync each admission (default true), as the journal does. */
  sync?: boolean;
};

/**
 * The pool of records this worker has accepted, for its duplicate checks: an embedded LevelDB
 * (classic-level, as the journal) beside the journal. It holds fingerprints only, never text.
 */
export async function createRecordPool(parameters: CreateRecordPoolParameters): Promise<RecordPool> {
  await mkdir(parameters.directory, { recursive: true });
  const db = new ClassicLevel<string, string>(parameters.directory, { keyEncoding: "utf8", valueEncoding: "utf8" });
  await db.open();
  const format = await db.get("meta!format");
  if (format === undefined) await db.put("meta!format", FORMAT);
  else if (format !== FORMAT) {
    await db.close();
    throw new WorkerError(
      "CONFIG_INVALID",
      `The record pool at ${parameters.directory} is in another format (${format}).`,
      {
        hints: ["Use the worker version that wrote it, or move it away to start an empty pool."],
      },
    );
  }
  const sync = parameters.sync ?? true;
  /** Admissions run one at a time: each reads the pool and writes what it found unique. */
  let queue: Promise<unknown> = Promise.resolve();

  async function admitNow(submissionId: string, records: readonly RecordFingerprint[]): Promise<SubmissionValidation> {
    const distinctKeys = [...new Set(records.map((r) => r.key))];
    const owners = await db.getMany(distinctKeys.map((key) => `r!${key}`));
    const pooledBy = new Map(distinctKeys.map((key, i) => [key, owners[i]]));

    // Every bucket any record falls in, read once.
    const recordBands = records.map((r) => (r.signature ? bandKeys(r.signature) : []));
    const bucketNames = [...new Set(recordBands.flat())];
    const bucketValues = await db.getMany(bucketNames.map((name) => `b!${name}`));
    const buckets = new Map(
      bucketNames.map((name, i) => [name, bucketValues[i] ? (JSON.parse(bucketValues[i]) as string[]) : []]),
    );
    // Records this submission brought itself (an upload retried after a crash) are compared as
    // the file's own, below, in file order.
    const pooledCandidates = [...new Set([...buckets.values()].flat())].filter(
      (key) => pooledBy.get(key) !== submissionId,
    );
    const signatureValues = await db.getMany(pooledCandidates.map((key) => `m!${key}`));
    const signatures = new Map<string, Uint32Array>();
    pooledCandidates.forEach((key, i) => {
      const value = signatureValues[i];
      if (value !== undefined) signatures.set(key, decodeSignature(value));
    });

    let duplicates = 0;
    let nearDuplicates = 0;
    const admitted = new Set<string>();
    const touched = new Set<string>();
    records.forEach((record, i) => {
      const owner = pooledBy.get(record.key);
      if (admitted.has(record.key) || (owner !== undefined && owner !== submissionId)) {
        duplicates++;
        return;
      }
      const bands = recordBands[i]!;
      const near = bands.some((name) =>
        buckets.get(name)!.some((candidate) => {
          if (candidate === record.key) return false;
          const theirs = signatures.get(candidate);
          return theirs !== undefined && similarity(record.signature!, theirs) >= NEAR_DUPLICATE_THRESHOLD;
        }),
      );
      if (near) {
        nearDuplicates++;
        return;
      }
      admitted.add(record.key);
      if (record.signature) {
        signatures.set(record.key, record.signature);
        for (const name of bands) {
          const members = buckets.get(name)!;
          if (members.length < BUCKET_CAPACITY && !members.includes(record.key)) {
            members.push(record.key);
            touched.add(name);
          }
        }
      }
    });

    const weight = admitted.size;
    if (weight > 0) {
      const batch = db.batch();
      const byKey = new Map(records.map((r) => [r.key, r]));
      for (const key of admitted) {
        batch.put(`r!${key}`, submissionId);
        const signature = byKey.get(key)!.signature;
        if (signature) batch.put(`m!${key}`, encodeSignature(signature));
      }
      for (const name of touched) batch.put(`b!${name}`, JSON.stringify(buckets.get(name)));
      await batch.write({ sync });
    }
    return { records: records.length, duplicates, nearDuplicates, weight };
  }

  return {
    admit(submissionId, records) {
      const result = queue.then(() => admitNow(submissionId, records));
      queue = result.catch(() => undefined);
      return result;
    },
    async close() {
      await queue;
      await db.close();
    },
  };
}

function encodeSignature(signature: Uint32Array): string {
  return Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength).toString("base64");
}

function decodeSignature(value: string): Uint32Array {
  const bytes = Buffer.from(value, "base64");
  const copy = new Uint8Array(bytes);
  return new Uint32Array(copy.buffer, 0, copy.byteLength / 4);
}
