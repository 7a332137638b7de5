import { randomUUID } from "node:crypto";
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
  type FingerprintList,
} from "./recordFingerprint.ts";
import type { SubmissionValidation } from "../api/submissionWire.ts";

/** The pool's format: its fingerprints are only comparable with others of the same parameters. */
const FORMAT = `dao-ai/record-pool/v2 minhash=fmix32x${MINHASH_PERMUTATIONS} bands=${BANDS}x${ROWS} word-bigrams`;
/**
 * Record keys kept per LSH bucket. A bucket this full is a crowd of near-identical texts already;
 * a newcomer that falls in it is still compared with the first ones, which is where a copy of
 * them would match.
 */
const BUCKET_CAPACITY = 8;
/** Length of a record key (hex SHA-256) as a bucket lists it. */
const KEY_LENGTH = 64;
/**
 * Records read and written per LevelDB round trip. An admission holds one slice's fingerprints,
 * reads and writes at a time, never an index of the whole file: records admitted from earlier
 * slices are compared from the pool itself.
 */
const SLICE = 256;

// Key layout. A submission's unique records are written slice by slice as they are admitted,
// each entry naming the submission and the admission: a crash part way leaves some of them in
// the pool, and the retried upload (same submission, another admission) counts those as its own,
// not as duplicates, while a repeat within the file (same admission) is one.
//   meta!format        -> FORMAT
//   r!<record key>     -> "<submission id> <admission id>" that brought the record
//   m!<record key>     -> its MinHash signature (base64 of MINHASH_PERMUTATIONS uint32, little-endian)
//   b!<band bucket>    -> up to BUCKET_CAPACITY record keys in that LSH bucket, concatenated

export type RecordPool = {
  /**
   * Counts a submission's records against the pool and, if any is unique, adds those to it, all
   * in one step that no other admission interleaves with. A record is a duplicate when its
   * normalised text is in the pool or earlier in the file, and a near duplicate when its
   * signature is within NEAR_DUPLICATE_THRESHOLD of one that is; neither earns (weight). Records
   * that `submissionId` itself brought before (an upload retried after a crash) are its own, not
   * duplicates. Nothing is written when the weight is 0.
   */
  admit(submissionId: string, records: FingerprintList): Promise<SubmissionValidation>;
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

  async function readBuckets(names: readonly string[]): Promise<Map<string, string[]>> {
    const values = await db.getMany(names.map((name) => `b!${name}`));
    return new Map(
      names.map((name, i) => {
        const members: string[] = [];
        const value = values[i] ?? "";
        for (let at = 0; at < value.length; at += KEY_LENGTH) members.push(value.slice(at, at + KEY_LENGTH));
        return [name, members];
      }),
    );
  }

  /**
   * Decides, slice by slice, which records are duplicates of the pool (or of records earlier in
   * the file, which earlier slices wrote to it), near duplicates, or new, and writes each slice's
   * new records before reading the next: memory stays bounded by a slice whatever the file's size.
   */
  async function admitNow(submissionId: string, records: FingerprintList): Promise<SubmissionValidation> {
    const admission = `${submissionId} ${randomUUID()}`;
    /** Records an earlier, interrupted admission of this submission wrote: they come again in file order. */
    const fromEarlierAdmission = (owner: string) => owner.startsWith(`${submissionId} `) && owner !== admission;
    let duplicates = 0;
    let nearDuplicates = 0;
    let weight = 0;
    for (let from = 0; from < records.length; from += SLICE) {
      const slice = Array.from({ length: Math.min(SLICE, records.length - from) }, (_, j) => records.at(from + j));
      const owners = await db.getMany(slice.map((r) => `r!${r.key}`));
      const sliceBands = slice.map((r) => (r.signature ? bandKeys(r.signature) : []));
      const buckets = await readBuckets([...new Set(sliceBands.flat())]);
      const candidates = [...new Set([...buckets.values()].flat())];
      const candidateOwners = await db.getMany(candidates.map((key) => `r!${key}`));
      const comparable = candidates.filter((_, i) => {
        const owner = candidateOwners[i];
        return owner !== undefined && !fromEarlierAdmission(owner);
      });
      const signatureValues = await db.getMany(comparable.map((key) => `m!${key}`));
      const signatures = new Map<string, Uint32Array>();
      comparable.forEach((key, i) => {
        if (signatureValues[i] !== undefined) signatures.set(key, decodeSignature(signatureValues[i]));
      });
      const admittedHere = new Set<string>();
      const changedBuckets = new Set<string>();
      const batch = db.batch();
      slice.forEach((record, j) => {
        const owner = owners[j];
        if (admittedHere.has(record.key) || (owner !== undefined && !fromEarlierAdmission(owner))) {
          duplicates++;
          return;
        }
        const signature = record.signature;
        const bands = sliceBands[j]!;
        if (signature) {
          const near = bands.some((name) =>
            buckets.get(name)!.some((candidate) => {
              const theirs = signatures.get(candidate);
              return theirs !== undefined && similarity(signature, theirs) >= NEAR_DUPLICATE_THRESHOLD;
            }),
          );
          if (near) {
            nearDuplicates++;
            return;
          }
        }
        weight++;
        admittedHere.add(record.key);
        batch.put(`r!${record.key}`, admission);
        if (!signature) return;
        batch.put(`m!${record.key}`, encodeSignature(signature));
        // Later records of this slice compare with this one as with the pool's.
        signatures.set(record.key, signature);
        for (const name of bands) {
          const members = buckets.get(name)!;
          if (members.length < BUCKET_CAPACITY && !members.includes(record.key)) {
            members.push(record.key);
            changedBuckets.add(name);
          }
        }
      });
      for (const name of changedBuckets) batch.put(`b!${name}`, buckets.get(name)!.join(""));
      if (batch.length > 0) await batch.write({ sync });
      else await batch.close();
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
