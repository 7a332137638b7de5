/**
 * Text to numbers for the embedded classifier: the hashing trick (Weinberger et al., "Feature
 * Hashing for Large Scale Multitask Learning", ICML 2009) over word unigrams and bigrams. There
 * is no vocabulary to ship or to keep in step with the weights, so the weights file alone
 * determines the model, and two machines featurise a message identically. Hashing collisions
 * cost a little accuracy and nothing else at these sizes.
 */

export const TOKENIZER_VERSION = "dao-ai/tokenizer/v1";
export const HASH_FUNCTION = "fnv1a-32";

export type HashedBagOfWordsOptions = {
  /** The number of buckets: the length of every feature vector. */
  dimensions: number;
  /** 1 for words only, 2 for words and pairs of neighbouring words. */
  ngrams: 1 | 2;
};

// URLs matter more for scams than any word: where a link goes (its top-level domain, the words
// in its host name) is kept as tokens of their own; the rest of the link is dropped.
const URL_PATTERN = /\b(?:https?:\/\/)?((?:[a-z0-9-]+\.)+[a-z]{2,})(?:\/[^\s]*)?/g;
const ADDRESS_PATTERN = /\b0x[0-9a-f]{40}\b/g;
const HASH_PATTERN = /\b0x[0-9a-f]{41,}\b/g;
const NUMBER_PATTERN = /\d+(?:[.,]\d+)*/g;
const WORD_PATTERN = /[a-z]+|[!$%@#]/g;

/**
 * Splits a message into tokens: lower-cased words, a few telling symbols, and placeholders for
 * links (with their host's parts and top-level domain), addresses, hashes and numbers.
 */
export function tokenize(text: string): string[] {
  const tokens: string[] = [];
  let rest = text.toLowerCase().normalize("NFKC");
  rest = rest.replace(HASH_PATTERN, () => " __hash__ ");
  rest = rest.replace(ADDRESS_PATTERN, () => " __address__ ");
  rest = rest.replace(URL_PATTERN, (_match, host: string) => {
    const labels = host.split(".");
    const tld = labels.at(-1)!;
    const words = labels.slice(0, -1).flatMap((label) => label.split("-"));
    return ` __url__ __tld_${tld}__ ${words.map((word) => `__host_${word}__`).join(" ")} `;
  });
  for (const piece of rest.split(/\s+/)) {
    if (piece.startsWith("__") && piece.endsWith("__")) {
      tokens.push(piece);
      continue;
    }
    const normalised = piece.replace(NUMBER_PATTERN, " __number__ ");
    for (const part of normalised.split(/\s+/)) {
      if (part === "__number__") tokens.push(part);
      else for (const match of part.matchAll(WORD_PATTERN)) tokens.push(match[0]);
    }
  }
  return tokens;
}

/** FNV-1a, 32 bits, over the UTF-16 code units of `text`: fast, stable, and the same everywhere. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * The bucket of each token (and, with `ngrams: 2`, of each pair of neighbouring tokens), one entry
 * per occurrence: a sparse form of the count vector, which is all that training and answering
 * need (a message touches a few dozen of the thousands of buckets).
 */
export function bucketsOf(text: string, options: HashedBagOfWordsOptions): number[] {
  const tokens = tokenize(text);
  const buckets: number[] = [];
  for (let i = 0; i < tokens.length; i++) {
    buckets.push(fnv1a32(tokens[i]!) % options.dimensions);
    if (options.ngrams === 2 && i + 1 < tokens.length) {
      buckets.push(fnv1a32(`${tokens[i]} ${tokens[i + 1]}`) % options.dimensions);
    }
  }
  return buckets;
}

/** Token counts hashed into `dimensions` buckets: the dense form of bucketsOf. */
export function featurize(text: string, options: HashedBagOfWordsOptions): number[] {
  const vector = new Array<number>(options.dimensions).fill(0);
  for (const bucket of bucketsOf(text, options)) vector[bucket]! += 1;
  return vector;
}
