import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

export type CreateMetricsParameters = {
  /** Whether to add Node's process metrics (CPU, memory, event loop lag). Off in tests. */
  defaultMetrics?: boolean;
};

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * A fresh Prometheus registry with the metrics every stage shares. Each worker (and each test)
 * gets its own registry instead of prom-client's global one, so two workers in one process do not
 * count into each other's metrics and a test never sees another test's counts. Stages add their
 * own metrics to `registry`.
 */
export function createMetrics(parameters: CreateMetricsParameters = {}) {
  const registry = new Registry();
  if (parameters.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: "worker_" });
  return {
    registry,
    /** Every error answered or logged, by stable code: the first thing to alert on. */
    errors: new Counter({
      name: "worker_errors_total",
      help: "Errors by stable error code.",
      labelNames: ["code"] as const,
      registers: [registry],
    }),
    submissions: new Counter({
      name: "worker_submissions_total",
      help: "Submissions by outcome (accepted, rejected, recorded).",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
    storageSeconds: new Histogram({
      name: "worker_storage_operation_seconds",
      help: "Time spent on content-store operations, by operation and backend.",
      labelNames: ["operation", "backend"] as const,
      buckets: [0.005, 0.025, 0.1, 0.5, 2, 10, 60],
      registers: [registry],
    }),
    policyLagSeconds: new Gauge({
      name: "worker_policy_lag_seconds",
      help: "How far the policy the worker holds lags the chain head; past the staleness bound it fails closed.",
      registers: [registry],
    }),
  };
}
