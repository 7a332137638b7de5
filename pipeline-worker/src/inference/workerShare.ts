import { WorkerError } from "../internal/WorkerError.ts";

export type WorkerShareParameters = {
  /** The consumer's quota per epoch, from the policy. */
  quota: bigint;
  /** This worker's index, from 0. */
  workerIndex: number;
  /** How many workers serve the same consumers. */
  workerCount: number;
};

/**
 * The part of a consumer's quota that one of `workerCount` workers may serve in an epoch: the
 * quota divided evenly, the remainder going one each to the lowest indexes. For every quota the
 * shares of workers 0 to `workerCount - 1` add up to exactly the quota, so workers that each stay
 * within their share serve, together, at most the quota, with no coordination between them at
 * query time (the bound on overshoot is zero). The price is that one worker alone serves only its
 * share: a consumer refused by one worker with QUOTA_EXHAUSTED may still be served by another.
 *
 * Every worker must be configured with the same `workerCount` and a distinct `workerIndex`, and
 * the count may change only at an epoch boundary; see the inference section of the README.
 */
export function workerShare({ quota, workerIndex, workerCount }: WorkerShareParameters): bigint {
  if (!Number.isSafeInteger(workerCount) || workerCount < 1) {
    throw new WorkerError(
      "CONFIG_INVALID",
      `inference.workerCount must be a positive whole number, got ${workerCount}.`,
    );
  }
  if (!Number.isSafeInteger(workerIndex) || workerIndex < 0 || workerIndex >= workerCount) {
    throw new WorkerError(
      "CONFIG_INVALID",
      `inference.workerIndex must be a whole number from 0 to ${workerCount - 1}, got ${workerIndex}.`,
    );
  }
  if (quota <= 0n) return 0n;
  const count = BigInt(workerCount);
  const index = BigInt(workerIndex);
  return quota / count + (index < quota % count ? 1n : 0n);
}
