import { createHash } from "node:crypto";
import { Matrix } from "ml-matrix";
import { MultinomialNB } from "ml-naivebayes";
import { z } from "zod";
import { WorkerError } from "../internal/WorkerError.ts";
import { featurize, HASH_FUNCTION, TOKENIZER_VERSION, type HashedBagOfWordsOptions } from "./hashedBagOfWords.ts";
import type { Model, ModelAnswer } from "./Model.ts";
import { MAX_TEXT_LENGTH, type TrainingRecord } from "./trainingRecords.ts";

export const EMBEDDED_WEIGHTS_FORMAT = "dao-ai/embedded-model/v1";

/**
 * The embedded model's weights: everything needed to answer, and nothing else. Serialised by
 * `encodeEmbeddedWeights` into canonical JSON, whose SHA-256 is what a training run commits on
 * chain and what anyone checks revealed weights against.
 */
export type EmbeddedWeights = {
  format: typeof EMBEDDED_WEIGHTS_FORMAT;
  /** Multinomial naive Bayes over hashed token counts, trained by ml-naivebayes's MultinomialNB. */
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
 * Trains the embedded classifier on labelled records: a multinomial naive Bayes (the classic
 * spam filter, as in SpamAssassin's and Graham's Bayesian filters) over hashed word and
 * word-pair counts, fitted by ml-naivebayes. The records are sorted first, so the weights (and
 * their hash) depend only on which records there are, not on the order they were gathered in.
 */
export function trainEmbeddedModel(
  records: readonly TrainingRecord[],
  options: TrainEmbeddedModelOptions = {},
): EmbeddedWeights {
  const features = { ...DEFAULT_FEATURES, ...options };
  if (!Number.isInteger(features.dimensions) || features.dimensions < 16 || features.dimensions > 1 << 20) {
    throw new WorkerError("VALIDATION_FAILED", `dimensions must be an integer in 16..${1 << 20}.`);
  }
  const labels = [...new Set(records.map((record) => record.label))].sort(compareStrings);
  if (labels.length < 2) {
    throw new WorkerError(
      "TRAINING_DATA_INVALID",
      `A classifier needs examples of at least two labels; the training set has ${labels.length}.`,
      { hints: ["Train on more submissions, with examples of every label."] },
    );
  }
  const sorted = [...records].sort((a, b) => compareStrings(a.text, b.text) || compareStrings(a.label, b.label));
  const index = new Map(labels.map((label, i) => [label, i]));
  const x = new Matrix(sorted.map((record) => featurize(record.text, features)));
  const y = sorted.map((record) => index.get(record.label)!);
  const nb = new MultinomialNB();
  nb.train(x, y);
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
    logPriors: nb.priorProbability.getColumn(0),
    logLikelihoods: nb.conditionalProbability.to2DArray(),
    examples: sorted.length,
  };
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
  const likelihoods = new Matrix(weights.logLikelihoods).transpose();
  const priors = Matrix.rowVector(weights.logPriors);

  return {
    id,
    weights,
    labels: weights.labels,
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
      const counts = featurize(input, weights.features);
      const tokens = counts.reduce((a, b) => a + b, 0);
      const scores = new Matrix([counts]).mmul(likelihoods).add(priors).getRow(0);
      const order = scores.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
      const margin = (scores[order[0]!]! - scores[order[1]!]!) / Math.max(1, tokens);
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

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
