import { describe, expect, it } from "vitest";
import { createMetrics } from "../../src/internal/createMetrics.ts";

describe("createMetrics", () => {
  it("exposes the shared metrics in Prometheus text format", async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.errors.inc({ code: "QUOTA_EXHAUSTED" });
    metrics.errors.inc({ code: "QUOTA_EXHAUSTED" });
    metrics.policyLagSeconds.set(3);
    const text = await metrics.registry.metrics();
    expect(text).toContain('worker_errors_total{code="QUOTA_EXHAUSTED"} 2');
    expect(text).toContain("worker_policy_lag_seconds 3");
    expect(metrics.registry.contentType).toMatch(/^text\/plain/);
  });

  it("keeps two workers' counts apart", async () => {
    const a = createMetrics({ defaultMetrics: false });
    const b = createMetrics({ defaultMetrics: false });
    a.submissions.inc({ outcome: "accepted" });
    expect(await b.registry.metrics()).not.toContain('outcome="accepted"');
  });

  it("adds process metrics by default", async () => {
    const text = await createMetrics().registry.metrics();
    expect(text).toContain("worker_process_resident_memory_bytes");
  });
});
