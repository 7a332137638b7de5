import { createHash } from "node:crypto";
import { fnv1a32 } from "../model/hashedBagOfWords.ts";

/**
 * How ingest recognises a record it has seen before. A record's text is normalised (Unicode NFKC,
 * so that look-alike compatibility characters such as full-width letters or ligatures become the
 * plain ones; runs of white space become one space; lower case), and:
 *
 * - its `key`, the SHA-256 of the normalised text, finds exact duplicates. The label is left out
 *   on purpose: the same text sent again with another label teaches the model nothing new (at
 *   best it is noise, at worst a flipped label), so it earns nothing either;
 * - its MinHash `signature` over word bigrams finds near duplicates (a word changed, added or
 *   dropped, punctuation or links edited): two texts whose estimated Jaccard similarity of word
 *   bigrams is at least NEAR_DUPLICATE_THRESHOLD are near duplicates. Candidates are found by LSH
 *   banding (BANDS bands of ROWS rows), so a lookup costs BANDS reads, not one per pooled record.
 *
 * These parameters are part of the pool's format (createRecordPool refuses a pool written with
 * others): a worker's signatures must stay comparable with those it stored before.
 */

/** Min-wise hash functions per signature. */
export const MINHASH_PERMUTATIONS = 64;
/** LSH bands; BANDS x ROWS = MINHASH_PERMUTATIONS. */
export const BANDS = 16;
export const ROWS = 4;
/**
 * Estimated Jaccard similarity of word bigrams from which a record is a near duplicate. With
 * 16 bands of 4 rows a pair at 0.7 becomes a candidate with probability 0.99, at 0.8 with 0.9999,
 * at 0.3 with 0.12. For a message of 15 words, one word changed gives 0.75 and one word added
 * 0.93; a message of 10 words with one word changed (0.64) is not one.
 */
export const NEAR_DUPLICATE_THRESHOLD = 0.7;

/** A word: a run of letters and digits (punctuation, symbols and links' separators split words). */
const WORD = /[\p{L}\p{N}]+/gu;

/**
 * Words of a text that its signature covers: the first 256, i.e. any message in full, and the
 * opening of a long text. Each word costs MINHASH_PERMUTATIONS hash evaluations, so this bounds
 * the cost of a record (exact duplicates are still found over the whole text).
 */
const MAX_SHINGLED_WORDS = 256;

/**
 * One 32-bit seed per hash function, the same in every worker and at every start (derived from a
 * fixed label), so that signatures stored before a restart stay comparable with new ones.
 */
const SEEDS = Uint32Array.from({ length: MINHASH_PERMUTATIONS }, (_, i) =>
  createHash("sha256").update(`dao-ai/minhash/v1/${i}`).digest().readUInt32BE(0),
);

/** A record as ingest compares it with the pool. */
export type RecordFingerprint = {
  /** SHA-256 (hex) of the normalised text. */
  key: string;
  /** MinHash of its word bigrams; undefined for a text without a word (only exact duplicates apply). */
  signature: Uint32Array | undefined;
};

/** NFKC, white space collapsed and trimmed, lower case: the form records are compared in. */
export function normaliseText(text: string): string {
  // ASCII is its own NFKC form; skipping the call halves the cost of long ASCII texts.
  const composed = NON_ASCII.test(text) ? text.normalize("NFKC") : text;
  return composed.replace(/\s+/gu, " ").trim().toLowerCase();
}

const NON_ASCII = /[^\p{ASCII}]/u;

export function fingerprintRecord(normalisedText: string): RecordFingerprint {
  return {
    key: createHash("sha256").update(normalisedText).digest("hex"),
    signature: minHashSignature(normalisedText),
  };
}

/**
 * MinHash written here rather than taken from a library. The one well-kept npm package with a
 * MinHash, bloom-filters, evaluates (a x + b) mod p in doubles (so inputs must stay under 2^26),
 * draws its hash functions from Math.random in its factory (signatures would not survive a
 * restart), and took 6.3 s against 0.7 s here for 8,192 records of 255 shingles (a one-off measurement): ingest would
 * read large uploads at a few MB/s. Hash function i is MurmurHash3's 32-bit finaliser of the
 * shingle's FNV-1a hash xor SEEDS[i], a well-mixed hash whose minimum behaves as a random
 * permutation's.
 */
function minHashSignature(normalisedText: string): Uint32Array | undefined {
  // Each bigram is hashed from its words' hashes rather than from a joined string: the same set
  // of shingles, without building a string per shingle.
  const wordHashes: number[] = [];
  for (const [word] of normalisedText.matchAll(WORD)) {
    wordHashes.push(fnv1a32(word));
    if (wordHashes.length === MAX_SHINGLED_WORDS) break;
  }
  if (wordHashes.length === 0) return undefined;
  const shingles = new Set<number>();
  if (wordHashes.length === 1) shingles.add(wordHashes[0]!);
  for (let i = 1; i < wordHashes.length; i++) {
    shingles.add((Math.imul(wordHashes[i - 1]!, 0x9e3779b1) ^ wordHashes[i]!) >>> 0);
  }
  const signature = new Uint32Array(MINHASH_PERMUTATIONS).fill(0xffffffff);
  for (const shingle of shingles) {
    for (let i = 0; i < MINHASH_PERMUTATIONS; i++) {
      const hash = fmix32(shingle ^ SEEDS[i]!);
      if (hash < signature[i]!) signature[i] = hash;
    }
  }
  return signature;
}

/** MurmurHash3's 32-bit finaliser: every input bit affects every output bit. */
function fmix32(value: number): number {
  let h = value;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The estimated Jaccard similarity of the texts of two signatures. */
export function similarity(a: Uint32Array, b: Uint32Array): number {
  let equal = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) equal++;
  return equal / a.length;
}

/** A 32-bit hash of each band's rows (its LSH bucket within the band). */
function bandHashes(signature: Uint32Array): number[] {
  const hashes: number[] = [];
  for (let band = 0; band < BANDS; band++) {
    let hash = band;
    for (let row = band * ROWS; row < (band + 1) * ROWS; row++) hash = fmix32((hash ^ signature[row]!) >>> 0);
    hashes.push(hash);
  }
  return hashes;
}

/** The pool's key of each LSH bucket of a signature: records sharing one are near-duplicate candidates. */
export function bandKeys(signature: Uint32Array): string[] {
  return bandHashes(signature).map((hash, band) => `${band.toString(16)}${hash.toString(16).padStart(8, "0")}`);
}

/** Records per block of a FingerprintList. */
const BLOCK = 1024;

/**
 * The fingerprints of a file's records, in file order, packed into typed arrays of BLOCK records
 * (288 bytes a record) rather than one object each: a file of 100,000 records holds 29 MB and no
 * per-record object for the collector to trace. Objects are made only as they are read.
 */
export function createFingerprintList() {
  const blocks: { keys: Buffer; signatures: Uint32Array; signed: Uint8Array }[] = [];
  let length = 0;
  return {
    get length() {
      return length;
    },
    push(fingerprint: RecordFingerprint): void {
      if (length % BLOCK === 0) {
        blocks.push({
          keys: Buffer.alloc(32 * BLOCK),
          signatures: new Uint32Array(MINHASH_PERMUTATIONS * BLOCK),
          signed: new Uint8Array(BLOCK),
        });
      }
      const block = blocks[blocks.length - 1]!;
      const at = length % BLOCK;
      block.keys.write(fingerprint.key, 32 * at, "hex");
      if (fingerprint.signature) {
        block.signatures.set(fingerprint.signature, MINHASH_PERMUTATIONS * at);
        block.signed[at] = 1;
      }
      length++;
    },
    /** Record `index`'s fingerprint (its signature a view into the list, not a copy). */
    at(index: number): RecordFingerprint {
      const block = blocks[Math.floor(index / BLOCK)]!;
      const at = index % BLOCK;
      return {
        key: block.keys.toString("hex", 32 * at, 32 * (at + 1)),
        signature: block.signed[at]
          ? block.signatures.subarray(MINHASH_PERMUTATIONS * at, MINHASH_PERMUTATIONS * (at + 1))
          : undefined,
      };
    },
  };
}

export type FingerprintList = ReturnType<typeof createFingerprintList>;
