import { Matrix } from "ml-matrix";
import {
  createEmbeddedModel,
  trainEmbeddedModel,
  type EmbeddedModel,
  type EmbeddedWeights,
} from "../src/model/createEmbeddedModel.ts";
import { createRandom } from "../src/model/generateScamMessages.ts";
import { featurize } from "../src/model/hashedBagOfWords.ts";
import type { Model } from "../src/model/Model.ts";
import type { TrainingRecord } from "../src/model/trainingRecords.ts";
import { isWorkerError } from "../src/internal/WorkerError.ts";

/**
 * Model extraction by retraining on the answers (Tramèr, Zhang, Juels, Reiter and Ristenpart,
 * "Stealing Machine Learning Models via Prediction APIs", USENIX Security 2016, section 6). The
 * attacker knows the model class and its features (the code is open source; only the weights are
 * secret), has a pool of unlabelled messages of the same kind, and queries the target through
 * whatever interface it is given until its budget or the quota runs out. The answers are labels
 * only (the coarse score is ignored), so the equation-solving attack of the paper's section 4,
 * which needs confidence values, does not apply; retraining is what remains.
 *
 * - uniform: queries messages from the pool in random order and trains a copy on the answers.
 * - adaptive: the paper's adaptive retraining (after Lowd and Meek's active learning): a tenth of
 *   the budget at random, then rounds that query the messages the current copy is least sure
 *   about, retraining after each round.
 */
export type ExtractionStrategy = "uniform" | "adaptive";

/** What an oracle says when it will answer no more (the quota is used up). */
export const REFUSED = "refused" as const;

/**
 * The target as the attacker reaches it: the label it answers for an input, or REFUSED once the
 * quota is spent. `modelOracle` wraps a Model in process; `createApiOracle` (apiOracle.ts) asks a
 * worker's query route over HTTP.
 */
export type Oracle = (input: string) => Promise<string | typeof REFUSED>;

/** An oracle over a Model called in process; its QUOTA_EXHAUSTED (createQuotaLimitedModel) is a refusal. */
export function modelOracle(model: Pick<Model, "classify">): Oracle {
  return async (input) => {
    try {
      return (await model.classify(input)).label;
    } catch (error) {
      if (isWorkerError(error, "QUOTA_EXHAUSTED")) return REFUSED;
      throw error;
    }
  };
}

export type ExtractModelParameters = {
  /**
   * The target as the attacker reaches it: a Model in process, e.g. behind a quota
   * (createQuotaLimitedModel), or any oracle, e.g. a worker's query route (createApiOracle).
   */
  target: Pick<Model, "classify"> | Oracle;
  /** The attacker's unlabelled messages. */
  pool: readonly string[];
  /** Queries the attacker will make at most (the quota may stop it sooner); Infinity for all of the pool. */
  budget: number;
  strategy: ExtractionStrategy;
  /** The copy's features; the attacker uses the public defaults. */
  features?: Pick<EmbeddedWeights["features"], "dimensions" | "ngrams">;
  seed: number;
  /** Rounds of adaptive querying. Default 10. */
  rounds?: number;
};

export type ExtractionResult = {
  /** The stolen copy: the embedded model trained on the answers, or a constant when only one label came back. */
  stolen: Pick<Model, "classify">;
  /** Queries answered. */
  queries: number;
  /** Whether the quota stopped the attack before its budget. */
  stoppedByQuota: boolean;
};

export async function extractModel(parameters: ExtractModelParameters): Promise<ExtractionResult> {
  const random = createRandom(parameters.seed);
  const order = parameters.pool.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const budget = Math.min(parameters.budget, parameters.pool.length);
  const answered: TrainingRecord[] = [];
  const asked = new Set<number>();
  let stoppedByQuota = false;

  const oracle = typeof parameters.target === "function" ? parameters.target : modelOracle(parameters.target);

  /** Queries these pool entries; false once the quota refuses. */
  async function query(indices: readonly number[]): Promise<boolean> {
    for (const index of indices) {
      if (answered.length >= budget) return false;
      const label = await oracle(parameters.pool[index]!);
      if (label === REFUSED) {
        stoppedByQuota = true;
        return false;
      }
      answered.push({ text: parameters.pool[index]!, label });
      asked.add(index);
    }
    return true;
  }

  const features = parameters.features ?? { dimensions: 4096, ngrams: 2 };
  if (parameters.strategy === "uniform") {
    await query(order.slice(0, budget));
  } else {
    const rounds = parameters.rounds ?? 10;
    const first = Math.max(2, Math.ceil(budget / 10));
    let going = await query(order.slice(0, first));
    const perRound = Math.max(1, Math.ceil((budget - first) / rounds));
    while (going && answered.length < budget) {
      const copy = train(answered, features);
      if (copy === undefined) {
        going = await query(order.filter((i) => !asked.has(i)).slice(0, perRound));
        continue;
      }
      const candidates = order.filter((i) => !asked.has(i));
      if (candidates.length === 0) break;
      const marginOf = createMargin(copy.weights);
      const margins = new Map(candidates.map((i) => [i, marginOf(parameters.pool[i]!)]));
      candidates.sort((a, b) => margins.get(a)! - margins.get(b)!);
      going = await query(candidates.slice(0, perRound));
    }
  }
  const copy = train(answered, features);
  const only = answered[0]?.label ?? "legit";
  return {
    stolen: copy ?? { classify: async () => ({ label: only, score: "low" }) },
    queries: answered.length,
    stoppedByQuota,
  };
}

function train(
  records: readonly TrainingRecord[],
  features: ExtractModelParameters["features"],
): EmbeddedModel | undefined {
  if (new Set(records.map((r) => r.label)).size < 2) return undefined;
  return createEmbeddedModel({ weights: trainEmbeddedModel(records, features) });
}

/** The copy's own log-odds margin per token: how sure the attacker's copy is about a message. */
function createMargin(weights: EmbeddedWeights): (text: string) => number {
  const likelihoods = new Matrix(weights.logLikelihoods).transpose();
  const priors = Matrix.rowVector(weights.logPriors);
  return (text) => {
    const counts = featurize(text, weights.features);
    const tokens = Math.max(
      1,
      counts.reduce((a, b) => a + b, 0),
    );
    const scores = new Matrix([counts])
      .mmul(likelihoods)
      .add(priors)
      .getRow(0)
      .sort((a, b) => b - a);
    return (scores[0]! - scores[1]!) / tokens;
  };
}

/** The share of inputs on which two models give the same label. */
export async function agreement(
  a: Pick<Model, "classify">,
  b: Pick<Model, "classify">,
  inputs: readonly string[],
): Promise<number> {
  let same = 0;
  for (const input of inputs) if ((await a.classify(input)).label === (await b.classify(input)).label) same++;
  return same / inputs.length;
}
