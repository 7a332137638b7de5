import { WorkerError } from "../internal/WorkerError.ts";
import type { Model } from "./Model.ts";

export type CreateQuotaLimitedModelParameters = {
  model: Model;
  /** Queries allowed per epoch; `Infinity` for none. */
  queriesPerEpoch: number;
  /** How many epochs the caller has: the total it may ask is their product. Default 1. */
  epochs?: number;
};

export type QuotaLimitedModel = Model & {
  /** Queries answered so far. */
  readonly used: number;
  /** Queries left, over all epochs. */
  readonly remaining: number;
};

/**
 * A model behind a plain per-consumer quota, as one consumer meets it: answers until the quota of
 * the epochs it is given is spent, then QUOTA_EXHAUSTED. It stands in for the worker's query
 * route (signatures, nonces, durable counting and settlement are the route's) in measurements
 * that only need the limit, such as the extraction attack command.
 */
export function createQuotaLimitedModel(parameters: CreateQuotaLimitedModelParameters): QuotaLimitedModel {
  const { model } = parameters;
  const total = parameters.queriesPerEpoch * (parameters.epochs ?? 1);
  let used = 0;
  return {
    id: model.id,
    get used() {
      return used;
    },
    get remaining() {
      return total - used;
    },
    async classify(input, options) {
      if (used >= total) {
        throw new WorkerError("QUOTA_EXHAUSTED", `The quota of ${total} queries is used up.`, {
          extra: { quota: total },
        });
      }
      used++;
      return model.classify(input, options);
    },
  };
}
