import { WorkerError } from "../internal/WorkerError.ts";
import type { Model } from "../model/Model.ts";

/** The refusal of a worker with no model: nothing was invoked, so nothing is counted. */
export function noModelError(): WorkerError {
  return new WorkerError("MODEL_UNAVAILABLE", "This worker has no model to answer with.", {
    retryable: false,
    hints: [
      "Operators: start the worker with a model (the embedded classifier, trained by a training run, or the adapter for an external model server).",
    ],
  });
}

/**
 * The model a worker runs when none is given: it refuses every query with MODEL_UNAVAILABLE, so a
 * worker started without a model fails each query clearly (and counts none: the query service
 * sees `unconfigured` and refuses before counting) instead of answering with something that is
 * not the DAO's model.
 */
export function createUnconfiguredModel(): Model {
  return {
    id: "unconfigured",
    unconfigured: true,
    async classify() {
      throw noModelError();
    },
  };
}
