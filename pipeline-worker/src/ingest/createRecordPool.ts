import { mkdir } from "node:fs/promises";
import { ClassicLevel } from "classic-level";
import { WorkerError } from "../internal/WorkerError.ts";
import {
  bandHashes,
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
const FORMAT = `dao-ai/record-pool/v1 minhash=fmix32x${MINHASH_PERMUTATIONS} bands=${BANDS}x${ROWS} word-bigrams`;
/**
 * Record keys kept per LSH bucket. A bucket this full is a crowd of near-identical texts already;
 * a newcomer that falls in it is still compared with the first ones, which is where a copy of
 * them would match.
 */
const BUCKET_CAPACITY = 8;
/** Records read or written per LevelDB round trip: bounds what an admission holds at once. */
const SLICE = 2048;

// Key layout. A submission's unique records are written in batches of SLICE records, each entry
// naming the submission: a crash part way leaves some of them in the pool, and the retried upload
// (same submission) counts those as its own, not as duplicates.
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

  /** The pooled records whose signatures are near `signature`, among those in `buckets`. */
  function nearPooled(
    signature: Uint32Array,
    bands: readonly string[],
    buckets: ReadonlyMap<string, readonly string[]>,
    signatures: ReadonlyMap<string, Uint32Array>,
  ): boolean {
    return bands.some((name) =>
      (buckets.get(name) ?? []).some((candidate) => {
        const theirs = signatures.get(candidate);
        return theirs !== undefined && similarity(signature, theirs) >= NEAR_DUPLICATE_THRESHOLD;
      }),
    );
  }

  async function readBuckets(names: readonly string[]): Promise<Map<string, string[]>> {
    const values = await db.getMany(names.map((name) => `b!${name}`));
    return new Map(names.map((name, i) => [name, values[i] ? (JSON.parse(values[i]) as string[]) : []]));
  }

  /**
   * Decides, slice by slice so that memory stays bounded by a slice's reads, which records are
   * duplicates of the pool, near duplicates of it, or repeats within the file; then writes the
   * admitted ones, slice by slice too. Only the file's own index (LSH buckets of its admitted
   * records) grows with the file.
   */
  async function admitNow(submissionId: string, records: readonly RecordFingerprint[]): Promise<SubmissionValidation> {
    const verdicts = new Uint8Array(records.length); // 0 admitted, 1 duplicate, 2 near duplicate
    const admittedKeys = new Set<string>();
    // The file's own LSH index, by small-integer bucket ids (a collision only adds a candidate,
    // which the similarity check then dismisses): a record's first bucket member is kept in
    // `firstInBucket`, the rest, rare, in `moreInBucket`, so that a file of unique records costs
    // a few bytes per band.
    const firstInBucket = new Map<number, number>();
    const moreInBucket = new Map<number, number[]>();
    const fileBucketsOf = (signature: Uint32Array) =>
      bandHashes(signature).map((hash, band) => (hash ^ Math.imul(band + 1, 0x9e3779b1)) >>> 2);
    const membersOf = (bucket: number): number[] => {
      const first = firstInBucket.get(bucket);
      return first === undefined ? [] : [first, ...(moreInBucket.get(bucket) ?? [])];
    };
    for (let from = 0; from < records.length; from += SLICE) {
      const slice = records.slice(from, from + SLICE);
      const owners = await db.getMany(slice.map((r) => `r!${r.key}`));
      const sliceBands = slice.map((r) => (r.signature ? bandKeys(r.signature) : []));
      const buckets = await readBuckets([...new Set(sliceBands.flat())]);
      // Records this submission brought itself (an upload retried after a crash) are compared as
      // the file's own, in file order, not as the pool's.
      const candidates = [...new Set([...buckets.values()].flat())];
      const candidateOwners = await db.getMany(candidates.map((key) => `r!${key}`));
      const theirs = candidates.filter((_, i) => candidateOwners[i] !== submissionId);
      const signatureValues = await db.getMany(theirs.map((key) => `m!${key}`));
      const signatures = new Map<string, Uint32Array>();
      theirs.forEach((key, i) => {
        if (signatureValues[i] !== undefined) signatures.set(key, decodeSignature(signatureValues[i]));
      });
      slice.forEach((record, j) => {
        const index = from + j;
        const owner = owners[j];
        if (admittedKeys.has(record.key) || (owner !== undefined && owner !== submissionId)) {
          verdicts[index] = 1;
          return;
        }
        const bands = sliceBands[j]!;
        const signature = record.signature;
        if (signature) {
          const fileBuckets = fileBucketsOf(signature);
          const nearFile = fileBuckets.some((bucket) =>
            membersOf(bucket).some(
              (other) => similarity(signature, records[other]!.signature!) >= NEAR_DUPLICATE_THRESHOLD,
            ),
          );
          if (nearFile || nearPooled(signature, bands, buckets, signatures)) {
            verdicts[index] = 2;
            return;
          }
          for (const bucket of fileBuckets) {
            if (!firstInBucket.has(bucket)) firstInBucket.set(bucket, index);
            else {
              const more = moreInBucket.get(bucket) ?? [];
              if (more.length < BUCKET_CAPACITY - 1) moreInBucket.set(bucket, [...more, index]);
            }
          }
        }
        admittedKeys.add(record.key);
      });
    }

    const weight = admittedKeys.size;
    if (weight > 0) {
      const admitted = records.filter((_, i) => verdicts[i] === 0);
      for (let from = 0; from < admitted.length; from += SLICE) {
        const slice = admitted.slice(from, from + SLICE);
        const sliceBands = slice.map((r) => (r.signature ? bandKeys(r.signature) : []));
        const buckets = await readBuckets([...new Set(sliceBands.flat())]);
        const batch = db.batch();
        slice.forEach((record, j) => {
          batch.put(`r!${record.key}`, submissionId);
          if (!record.signature) return;
          batch.put(`m!${record.key}`, encodeSignature(record.signature));
          for (const name of sliceBands[j]!) {
            const members = buckets.get(name)!;
            if (members.length < BUCKET_CAPACITY && !members.includes(record.key)) members.push(record.key);
          }
        });
        for (const [name, members] of buckets) if (members.length > 0) batch.put(`b!${name}`, JSON.stringify(members));
        await batch.write({ sync });
      }
    }
    let duplicates = 0;
    let nearDuplicates = 0;
    for (const verdict of verdicts) {
      if (verdict === 1) duplicates++;
      if (verdict === 2) nearDuplicates++;
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
