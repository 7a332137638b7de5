import { constants, PerformanceObserver, type PerformanceEntry } from "node:perf_hooks";
import v8 from "node:v8";
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
  if (parameters.defaultMetrics ?? true) {
    collectDefaultMetrics({ register: registry, prefix: "worker_" });
    observeLiveHeap(registry);
  }
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

/**
 * `worker_heap_live_bytes`: V8's heap in use just after the last full (mark-compact) garbage
 * collection, close to the live set. Resident memory and the heap in use at a random moment follow
 * V8's sizing heuristics and the garbage not yet collected; this is the figure a leak makes climb.
 */
function observeLiveHeap(registry: Registry) {
  const live = new Gauge({
    name: "worker_heap_live_bytes",
    help: "V8 heap in use just after the last full garbage collection (about the live set).",
    registers: [registry],
  });
  new PerformanceObserver((list) => {
    // A "gc" entry's detail says which kind of collection it was (Node's PerformanceEntry type omits it).
    const kindOf = (entry: PerformanceEntry) => (entry as { detail?: { kind?: number } }).detail?.kind;
    const full = list.getEntries().some((entry) => kindOf(entry) === constants.NODE_PERFORMANCE_GC_MAJOR);
    if (full) live.set(v8.getHeapStatistics().used_heap_size);
  }).observe({ entryTypes: ["gc"] });
}
