import type { BaseError } from "../internal/BaseError.ts";
import { WorkerError } from "../internal/WorkerError.ts";

export type StaleReason = "not-synced" | "sync-failed" | "too-old" | "too-far-behind" | "head-too-old" | "inconsistent";

export type EvaluatePolicyFreshnessParameters = {
  /** Milliseconds since the epoch. */
  now: number;
  /** The view the last successful poll published, or undefined before the first one. */
  published: { confirmedBlock: bigint; policyVersion: bigint; headBlock: bigint; syncedAt: number } | undefined;
  /** When the last successful poll started (ms since the epoch). */
  lastSuccessAt: number | undefined;
  lastFailure: { at: number; error: BaseError } | undefined;
  /** Set once the chain contradicted the synced policy: nothing is served until an operator acts. */
  inconsistency: BaseError | undefined;
  /** The newest head a poll saw, and its timestamp in seconds as its block says. */
  latestHead: { number: bigint; timestamp: bigint } | undefined;
  /** The confirmed cursor now, which a catch-up moves ahead of the published view. */
  confirmedBlock: bigint;
  stalenessMs: number;
  /** 0 turns the head's age check off. */
  maxHeadAgeSeconds: number;
  maxLagBlocks: number;
};

export type PolicyFreshness =
  | { fresh: true; ageMs: number }
  | {
      fresh: false;
      reason: StaleReason;
      /** POLICY_STALE, saying why and what to do; retryable unless the policy is inconsistent. */
      error: WorkerError;
      /** The last good poll's age, where the evaluation got as far as measuring it. */
      ageMs: number | undefined;
    };

/**
 * Whether the synced policy may be enforced now, and if not why: pure, so that every rule of
 * failing closed is checked without a chain. The checks go from what no retry mends (an
 * inconsistency) to what the next poll does (lag), and the first that fails names the reason.
 */
export function evaluatePolicyFreshness(parameters: EvaluatePolicyFreshnessParameters): PolicyFreshness {
  const { now, published, lastSuccessAt, lastFailure, inconsistency, latestHead } = parameters;
  const where =
    published === undefined
      ? {}
      : {
          blockNumber: published.confirmedBlock.toString(),
          policyVersion: published.policyVersion.toString(),
          syncedAt: new Date(published.syncedAt).toISOString(),
        };
  const stale = (
    reason: StaleReason,
    message: string,
    hints: string[],
    options: { cause?: unknown; details?: string; ageMs?: number } = {},
  ): PolicyFreshness => ({
    fresh: false,
    reason,
    error: new WorkerError("POLICY_STALE", message, {
      hints,
      cause: options.cause,
      details: options.details,
      extra: { reason, ...where },
      retryable: reason !== "inconsistent",
    }),
    ageMs: options.ageMs,
  });
  if (inconsistency !== undefined) {
    return stale(
      "inconsistent",
      "The worker refuses to act on a policy it could not reconcile with the chain.",
      [...inconsistency.hints],
      { cause: inconsistency },
    );
  }
  if (published === undefined || lastSuccessAt === undefined) {
    return stale(
      "not-synced",
      lastFailure === undefined
        ? "The policy has not been read from the chain yet."
        : "The policy could not be read from the chain yet.",
      [
        "Retry in a few seconds: the worker serves requests once its first policy sync completes.",
        "Operators: check that rpcUrl answers and that the deployment manifest is for this chain.",
      ],
      { cause: lastFailure?.error },
    );
  }
  if (lastFailure !== undefined && lastFailure.at >= lastSuccessAt) {
    const seconds = Math.round((now - lastSuccessAt) / 1000);
    return stale(
      "sync-failed",
      `The policy cannot be confirmed fresh: the last poll of the chain failed (last good poll ${seconds} s ago, at block ${published.headBlock}).`,
      [
        "Retry later: the worker polls again and serves as soon as it reaches the chain.",
        "Operators: check the RPC node at rpcUrl and the worker's log for the failing request.",
      ],
      { cause: lastFailure.error, details: describe(lastFailure.error) },
    );
  }
  const ageMs = now - lastSuccessAt;
  if (ageMs > parameters.stalenessMs) {
    return stale(
      "too-old",
      `The policy was last confirmed ${Math.round(ageMs / 1000)} s ago, more than the ${Math.round(parameters.stalenessMs / 1000)} s allowed.`,
      [
        "Retry later.",
        "Operators: the sync has stopped polling or its polls hang; check the worker's log and the RPC node.",
      ],
      { ageMs },
    );
  }
  const headAge = latestHead === undefined ? 0 : now / 1000 - Number(latestHead.timestamp);
  if (parameters.maxHeadAgeSeconds > 0 && headAge > parameters.maxHeadAgeSeconds) {
    return stale(
      "head-too-old",
      `The RPC node's latest block is ${Math.round(headAge)} s old, more than the ${parameters.maxHeadAgeSeconds} s allowed: the node has fallen behind the network, and a change made since would not be seen.`,
      [
        "Retry later.",
        "Operators: check that the node at rpcUrl is in sync with the network (its peers, its sync status), or point rpcUrl at one that is.",
      ],
      { ageMs },
    );
  }
  const lag = (latestHead?.number ?? published.headBlock) - parameters.confirmedBlock;
  if (lag > BigInt(parameters.maxLagBlocks)) {
    return stale(
      "too-far-behind",
      `The confirmed policy is ${lag} blocks behind the chain head, more than the ${parameters.maxLagBlocks} allowed.`,
      [
        "Retry later: the worker is catching up with the chain.",
        "Operators: if the lag keeps growing, the RPC node is slow to answer eth_getLogs; raise maxBlockRange or use a faster node.",
      ],
      { ageMs },
    );
  }
  return { fresh: true, ageMs };
}

/** An error's short message with what lies under it, on one line, for an operator to act on. */
function describe(error: BaseError): string {
  const inner = error.walk();
  const innerDetails =
    inner !== error && inner instanceof Error ? ((inner as { details?: string }).details ?? inner.message) : undefined;
  return innerDetails === undefined ? error.shortMessage : `${error.shortMessage} ${innerDetails}`;
}
