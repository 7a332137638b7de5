import { createHash } from "node:crypto";
import { MinHash } from "bloom-filters";
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

/** The prime modulus of the hash functions: below 2^26, so `a * x + b` stays exact in a double. */
const PRIME = 67_108_859;

/**
 * `MINHASH_PERMUTATIONS` hash functions `(a x + b) mod PRIME`, the same in every worker and at
 * every start, derived from a fixed label: bloom-filters' MinHashFactory draws them from
 * Math.random, which would make signatures stored before a restart incomparable with new ones.
 */
const HASH_FUNCTIONS: ConstructorParameters<typeof MinHash>[1] = Array.from(
  { length: MINHASH_PERMUTATIONS },
  (_, i) => {
    const digest = createHash("sha256").update(`dao-ai/minhash/v1/${i}`).digest();
    return { a: 1 + (digest.readUInt32BE(0) % (PRIME - 1)), b: digest.readUInt32BE(4) % PRIME, c: PRIME };
  },
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
  return text.normalize("NFKC").replace(/\s+/gu, " ").trim().toLowerCase();
}

export function fingerprintRecord(normalisedText: string): RecordFingerprint {
  return {
    key: createHash("sha256").update(normalisedText).digest("hex"),
    signature: minHashSignature(normalisedText),
  };
}

function minHashSignature(normalisedText: string): Uint32Array | undefined {
  const words = normalisedText.match(WORD);
  if (words === null) return undefined;
  // Each bigram is hashed from its words' hashes rather than from a joined string: the same set
  // of shingles, without building a string per shingle.
  const wordHashes = words.slice(0, MAX_SHINGLED_WORDS).map(fnv1a32);
  const shingles = new Set<number>();
  if (wordHashes.length === 1) shingles.add(wordHashes[0]! % PRIME);
  for (let i = 1; i < wordHashes.length; i++) {
    shingles.add(((Math.imul(wordHashes[i - 1]!, 0x9e3779b1) ^ wordHashes[i]!) >>> 0) % PRIME);
  }
  const sketch = new MinHash(MINHASH_PERMUTATIONS, HASH_FUNCTIONS);
  for (const shingle of shingles) sketch.add(shingle);
  return Uint32Array.from(sketch._signature);
}

/** The estimated Jaccard similarity of the texts of two signatures. */
export function similarity(a: Uint32Array, b: Uint32Array): number {
  let equal = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) equal++;
  return equal / a.length;
}

/** The LSH bucket of each band of a signature: records sharing one are near-duplicate candidates. */
export function bandKeys(signature: Uint32Array): string[] {
  return Array.from({ length: BANDS }, (_, band) => {
    const rows = Array.from(signature.subarray(band * ROWS, (band + 1) * ROWS), (value) => value.toString(36));
    return `${band.toString(36)}:${rows.join(".")}`;
  });
}
