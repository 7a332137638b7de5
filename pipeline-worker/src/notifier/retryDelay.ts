export type RetryPolicy = {
  /** Attempts in all, the first included; after the last failure the delivery is given up. */
  maxAttempts: number;
  /** The wait after the first failure; each later wait doubles. */
  initialDelayMs: number;
  /** The longest wait between two attempts. */
  maxDelayMs: number;
};

/**
 * How long to wait after `attempt` failed attempts (1 after the first): exponential backoff with
 * "full jitter" over its upper half, as AWS's architecture blog recommends, so that many alerts to
 * one receiver that came back do not all arrive in the same second. `random` is injected by tests.
 */
export function retryDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const exponential = policy.initialDelayMs * 2 ** Math.max(0, attempt - 1);
  const capped = Math.min(policy.maxDelayMs, exponential);
  return Math.round(capped / 2 + (capped / 2) * random());
}
