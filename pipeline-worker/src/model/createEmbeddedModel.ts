import { createHash } from "node:crypto";
import { z } from "zod";
import { WorkerError } from "../internal/WorkerError.ts";
import { bucketsOf, HASH_FUNCTION, TOKENIZER_VERSION, type HashedBagOfWordsOptions } from "./hashedBagOfWords.ts";
import type { Model, ModelAnswer } from "./Model.ts";
import { MAX_LABELS, MAX_TEXT_LENGTH, type TrainingRecord } from "./trainingRecords.ts";

export const EMBEDDED_WEIGHTS_FORMAT = "dao-ai/embedded-model/v1";

/**
 * The embedded model's weights: everything needed to answer, and nothing else. Serialised by
 * `encodeEmbeddedWeights` into canonical JSON, whose SHA-256 is what a training run commits on
 * chain and what anyone checks revealed weights against.
 */
export type EmbeddedWeights = {
  format: typeof EMBEDDED_WEIGHTS_FORMAT;
  /** Multinomial naive Bayes over hashed token counts (Laplace-smoothed). */
  algorithm: "multinomial-naive-bayes";
  features: {
    kind: "hashed-bag-of-words";
    tokenizer: typeof TOKENIZER_VERSION;
    hash: typeof HASH_FUNCTION;
    dimensions: number;
    ngrams: 1 | 2;
  };
  /** Sorted; a label's index is its row in the probability tables. */
  labels: string[];
  /** Natural log of each label's prior probability. */
  logPriors: number[];
  /** Natural log of P(bucket | label), one row of `dimensions` per label (Laplace-smoothed). */
  logLikelihoods: number[][];
  /** How many records it was trained on. */
  examples: number;
};

export type TrainEmbeddedModelOptions = Partial<HashedBagOfWordsOptions>;

/** 4,096 buckets of words and word pairs: plenty for short messages, 70 KB of weights per label. */
export const DEFAULT_FEATURES: HashedBagOfWordsOptions = { dimensions: 4096, ngrams: 2 };

/**
 * Naive Bayes' sufficient statistics, folded in one record at a time: per label, how many records
 * and how many tokens fell in each bucket. Memory is labels x dimensions whatever the number of
 * records, so a training set is streamed through it and never held.
 *
 * Counts are integers (exact in a double up to 2^53), so the sum, and the weights made from it,
 * are the same in whatever order the records come and however the work was split and merged:
 * the weights, and their committed hash, depend only on which records there are.
 */
export type EmbeddedTrainer = {
  readonly features: HashedBagOfWordsOptions;
  /** Records folded in so far. */
  readonly examples: number;
  /** The labels seen so far, sorted. */
  labels(): string[];
  add(record: TrainingRecord): void;
  /** Adds another trainer's counts (same features) to this one's, e.g. a submission checked in full. */
  merge(other: EmbeddedTrainer): void;
  /** The weights: log priors and Laplace-smoothed log likelihoods from the counts. */
  weights(): EmbeddedWeights;
};

type LabelCounts = { examples: number; tokens: number; buckets: Float64Array };

/**
 * A trainer for the embedded classifier. The maths is that of ml-naivebayes's MultinomialNB (the
 * classic spam filter, as in SpamAssassin's and Graham's Bayesian filters): prior log(n_c / n),
 * likelihood log((count + 1) / (total_c + dimensions)), with the same floating-point operations
 * in the same order, so the weights are byte for byte those it gave. It is written here because
 * that library trains only from a dense records x features matrix (about 32 GB for a million
 * messages); no maintained JavaScript library folds hashed counts in one record at a time.
 */
export function createEmbeddedTrainer(options: TrainEmbeddedModelOptions = {}): EmbeddedTrainer {
  const features = { ...DEFAULT_FEATURES, ...options };
  if (!Number.isInteger(features.dimensions) || features.dimensions < 16 || features.dimensions > 1 << 20) {
    throw new WorkerError("VALIDATION_FAILED", `dimensions must be an integer in 16..${1 << 20}.`);
  }
  if (features.ngrams !== 1 && features.ngrams !== 2) {
    throw new WorkerError("VALIDATION_FAILED", "ngrams must be 1 or 2.");
  }
  const byLabel = new Map<string, LabelCounts>();
  let examples = 0;

  function countsOf(label: string): LabelCounts {
    let counts = byLabel.get(label);
    if (counts === undefined) {
      // Each label costs dimensions x 8 bytes: a data set with thousands of labels must not
      // exhaust memory.
      if (byLabel.size >= MAX_LABELS) throw tooManyLabels();
      counts = { examples: 0, tokens: 0, buckets: new Float64Array(features.dimensions) };
      byLabel.set(label, counts);
    }
    return counts;
  }

  const trainer: EmbeddedTrainer = {
    features,
    get examples() {
      return examples;
    },
    labels: () => [...byLabel.keys()].sort(compareStrings),
    add(record) {
      const counts = countsOf(record.label);
      const buckets = bucketsOf(record.text, features);
      for (const bucket of buckets) counts.buckets[bucket]! += 1;
      counts.tokens += buckets.length;
      counts.examples += 1;
      examples += 1;
    },
    merge(other) {
      if (other.features.dimensions !== features.dimensions || other.features.ngrams !== features.ngrams) {
        throw new WorkerError("VALIDATION_FAILED", "Only trainers with the same features can be merged.");
      }
      const theirLabels = countsByLabel.get(other)!;
      // Checked before anything is added, so a refused merge leaves these counts as they were.
      const newLabels = [...theirLabels.keys()].filter((label) => !byLabel.has(label));
      if (byLabel.size + newLabels.length > MAX_LABELS) throw tooManyLabels();
      for (const [label, theirs] of theirLabels) {
        const counts = countsOf(label);
        for (let i = 0; i < theirs.buckets.length; i++) counts.buckets[i]! += theirs.buckets[i]!;
        counts.tokens += theirs.tokens;
        counts.examples += theirs.examples;
      }
      examples += other.examples;
    },
    weights() {
      const labels = trainer.labels();
      if (labels.length < 2) {
        throw new WorkerError(
          "TRAINING_DATA_INVALID",
          `A classifier needs examples of at least two labels; the training set has ${labels.length}.`,
          { hints: ["Train on more submissions, with examples of every label."] },
        );
      }
      const divisorOf = (counts: LabelCounts) => counts.tokens + features.dimensions;
      return {
        format: EMBEDDED_WEIGHTS_FORMAT,
        algorithm: "multinomial-naive-bayes",
        features: {
          kind: "hashed-bag-of-words",
          tokenizer: TOKENIZER_VERSION,
          hash: HASH_FUNCTION,
          dimensions: features.dimensions,
          ngrams: features.ngrams,
        },
        labels,
        logPriors: labels.map((label) => Math.log(byLabel.get(label)!.examples / examples)),
        logLikelihoods: labels.map((label) => {
          const counts = byLabel.get(label)!;
          const divisor = divisorOf(counts);
          return Array.from(counts.buckets, (count) => Math.log((count + 1) / divisor));
        }),
        examples,
      };
    },
  };
  countsByLabel.set(trainer, byLabel);
  return trainer;
}

// A trainer's counts, for `merge`, without putting them on its public face.
const countsByLabel = new WeakMap<EmbeddedTrainer, ReadonlyMap<string, LabelCounts>>();

/**
 * Trains the embedded classifier on labelled records: a multinomial naive Bayes over hashed word
 * and word-pair counts. Records are folded in one at a time, so `records` may be a generator or a
 * stream (an async iterable) that never holds the training set in memory.
 */
export function trainEmbeddedModel(
  records: Iterable<TrainingRecord>,
  options: TrainEmbeddedModelOptions = {},
): EmbeddedWeights {
  const trainer = createEmbeddedTrainer(options);
  for (const record of records) trainer.add(record);
  return trainer.weights();
}

/** trainEmbeddedModel over a stream of records, e.g. read from the content store as they decrypt. */
export async function trainEmbeddedModelFromStream(
  records: AsyncIterable<TrainingRecord> | Iterable<TrainingRecord>,
  options: TrainEmbeddedModelOptions = {},
): Promise<EmbeddedWeights> {
  const trainer = createEmbeddedTrainer(options);
  for await (const record of records) trainer.add(record);
  return trainer.weights();
}

/**
 * Canonical bytes of the weights: JSON with the keys in a fixed order and no whitespace. Numbers
 * print as ECMAScript's shortest round-trip form, which is the same on every machine, so equal
 * weights give equal bytes and an equal SHA-256.
 */
export function encodeEmbeddedWeights(weights: EmbeddedWeights): Uint8Array {
  const ordered = {
    format: weights.format,
    algorithm: weights.algorithm,
    features: {
      kind: weights.features.kind,
      tokenizer: weights.features.tokenizer,
      hash: weights.features.hash,
      dimensions: weights.features.dimensions,
      ngrams: weights.features.ngrams,
    },
    labels: weights.labels,
    logPriors: weights.logPriors,
    logLikelihoods: weights.logLikelihoods,
    examples: weights.examples,
  };
  return new TextEncoder().encode(JSON.stringify(ordered));
}

const finite = z.number().refine(Number.isFinite, { error: "must be a finite number" });
const weightsSchema = z
  .object({
    format: z.literal(EMBEDDED_WEIGHTS_FORMAT),
    algorithm: z.literal("multinomial-naive-bayes"),
    features: z.object({
      kind: z.literal("hashed-bag-of-words"),
      tokenizer: z.literal(TOKENIZER_VERSION),
      hash: z.literal(HASH_FUNCTION),
      dimensions: z
        .number()
        .int()
        .min(16)
        .max(1 << 20),
      ngrams: z.union([z.literal(1), z.literal(2)]),
    }),
    labels: z.array(z.string().min(1)).min(2),
    logPriors: z.array(finite),
    logLikelihoods: z.array(z.array(finite)),
    examples: z.number().int().positive(),
  })
  .refine(
    (w) =>
      w.logPriors.length === w.labels.length &&
      w.logLikelihoods.length === w.labels.length &&
      w.logLikelihoods.every((row) => row.length === w.features.dimensions),
    { error: "the probability tables must have one row per label and one column per bucket" },
  );

/** Reads weights written by encodeEmbeddedWeights; anything else is refused with the reason. */
export function decodeEmbeddedWeights(bytes: Uint8Array): EmbeddedWeights {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new WorkerError("VALIDATION_FAILED", "The weights file is not JSON.", { cause });
  }
  const parsed = weightsSchema.safeParse(json);
  if (!parsed.success) {
    throw new WorkerError(
      "VALIDATION_FAILED",
      `The weights file is not embedded-model weights (${EMBEDDED_WEIGHTS_FORMAT}).`,
      {
        hints: parsed.error.issues.slice(0, 5).map((issue) => `${issue.path.join(".") || "file"}: ${issue.message}.`),
      },
    );
  }
  return parsed.data as EmbeddedWeights;
}

/** The SHA-256 of the canonical weights, 0x-hex: the model's id and its on-chain weightsHash. */
export function embeddedWeightsHash(weights: EmbeddedWeights | Uint8Array): `0x${string}` {
  const bytes = weights instanceof Uint8Array ? weights : encodeEmbeddedWeights(weights);
  return `0x${createHash("sha256").update(bytes).digest("hex")}`;
}

export type EmbeddedModel = Model & {
  readonly weights: EmbeddedWeights;
  readonly labels: readonly string[];
};

export type CreateEmbeddedModelParameters = {
  /** Weights, or their canonical bytes (checked as they are read). */
  weights: EmbeddedWeights | Uint8Array;
};

/**
 * The embedded default model: answers from the weights in memory, on this machine. An answer is
 * the most likely label and a coarse confidence bucket, never a probability: label-only answers
 * make a stolen copy cost many more queries (Tramèr et al., USENIX Security 2016, section 5).
 *
 * The bucket comes from the log-odds between the best label and the runner-up per token of the
 * message (high at 1 and up, medium at 0.4 and up, low below). Naive Bayes counts correlated
 * words as independent evidence, so its posterior goes to 0 or 1 as a message gets longer and
 * would say "high" for almost everything; per token, it does not.
 */
export function createEmbeddedModel(parameters: CreateEmbeddedModelParameters): EmbeddedModel {
  const weights =
    parameters.weights instanceof Uint8Array ? decodeEmbeddedWeights(parameters.weights) : parameters.weights;
  const id = embeddedWeightsHash(parameters.weights instanceof Uint8Array ? parameters.weights : weights);
  const { labels, logPriors, logLikelihoods } = weights;

  return {
    id,
    weights,
    labels,
    async classify(input, options = {}): Promise<ModelAnswer> {
      options.signal?.throwIfAborted();
      if (typeof input !== "string" || input.length > MAX_TEXT_LENGTH) {
        throw new WorkerError(
          "VALIDATION_FAILED",
          `The input must be a string of at most ${MAX_TEXT_LENGTH} characters.`,
          {
            extra: { field: "input", limit: MAX_TEXT_LENGTH },
          },
        );
      }
      // A message touches a few dozen of the thousands of buckets: sum only those.
      const buckets = bucketsOf(input, weights.features);
      const scores = logPriors.map((prior, label) => {
        let score = prior;
        const row = logLikelihoods[label]!;
        for (const bucket of buckets) score += row[bucket]!;
        return score;
      });
      const order = scores.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
      const margin = (scores[order[0]!]! - scores[order[1]!]!) / Math.max(1, buckets.length);
      return { label: weights.labels[order[0]!]!, score: coarseScore(margin) };
    },
  };
}

/** The bucket of a per-token log-odds margin. */
export function coarseScore(marginPerToken: number): ModelAnswer["score"] {
  if (marginPerToken >= 1) return "high";
  if (marginPerToken >= 0.4) return "medium";
  return "low";
}

function tooManyLabels(): WorkerError {
  return new WorkerError("TRAINING_DATA_INVALID", `The training data has more than ${MAX_LABELS} distinct labels.`, {
    hints: [`The embedded model chooses among at most ${MAX_LABELS} labels.`],
  });
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
