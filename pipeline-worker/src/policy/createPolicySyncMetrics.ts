import { Counter, Gauge, type Registry } from "prom-client";

/** The policy sync's own metrics, on the worker's registry. */
export type PolicySyncMetrics = ReturnType<typeof createPolicySyncMetrics>;

export function createPolicySyncMetrics(registry: Registry) {
  // Reuse a metric already registered (a second sync on the same registry, as in a restart test).
  const existing = <T>(name: string) => registry.getSingleMetric(name) as T | undefined;
  return {
    confirmedBlock:
      existing<Gauge>("worker_policy_confirmed_block") ??
      new Gauge({
        name: "worker_policy_confirmed_block",
        help: "The block up to which the policy is confirmed and persisted.",
        registers: [registry],
      }),
    headBlock:
      existing<Gauge>("worker_policy_head_block") ??
      new Gauge({
        name: "worker_policy_head_block",
        help: "The newest chain head the policy sync saw.",
        registers: [registry],
      }),
    lagBlocks:
      existing<Gauge>("worker_policy_lag_blocks") ??
      new Gauge({
        name: "worker_policy_lag_blocks",
        help: "Blocks between the chain head and the confirmed policy cursor, confirmations included.",
        registers: [registry],
      }),
    policyVersion:
      existing<Gauge<"view">>("worker_policy_version") ??
      new Gauge({
        name: "worker_policy_version",
        help: "The policy version held, confirmed and at the head.",
        labelNames: ["view"] as const,
        registers: [registry],
      }),
    eventsApplied:
      existing<Counter>("worker_policy_events_applied_total") ??
      new Counter({
        name: "worker_policy_events_applied_total",
        help: "PolicyRegistry events applied to the confirmed policy.",
        registers: [registry],
      }),
    reorgs:
      existing<Counter>("worker_policy_rollbacks_total") ??
      new Counter({
        name: "worker_policy_rollbacks_total",
        help: "Times the confirmed policy was rolled back to a checkpoint (a reorg or missing logs).",
        registers: [registry],
      }),
    pollFailures:
      existing<Counter>("worker_policy_poll_failures_total") ??
      new Counter({
        name: "worker_policy_poll_failures_total",
        help: "Policy polls that failed.",
        registers: [registry],
      }),
  };
}
