import type { FastifyInstance } from "fastify";
import type { Metrics } from "../../internal/createMetrics.ts";

export type RegisterHealthRoutesParameters = {
  metrics: Metrics;
  /** Throws a WorkerError (POLICY_STALE, STORAGE_UNAVAILABLE, ...) when the worker cannot serve. */
  checkReady: () => Promise<void>;
};

/**
 * `/healthz`: the process is alive (for restarts). `/readyz`: it can serve now, with fresh policy
 * and reachable storage (for load balancers); when not, the problem says why. `/metrics`: Prometheus.
 */
export function registerHealthRoutes(app: FastifyInstance, parameters: RegisterHealthRoutesParameters): void {
  const statusSchema = {
    response: { 200: { type: "object", properties: { status: { type: "string" } }, required: ["status"] } },
  };
  app.get("/healthz", { schema: statusSchema }, async () => ({ status: "ok" }));
  app.get("/readyz", { schema: statusSchema }, async () => {
    await parameters.checkReady();
    return { status: "ready" };
  });
  app.get("/metrics", async (_request, reply) => {
    void reply.type(parameters.metrics.registry.contentType);
    return parameters.metrics.registry.metrics();
  });
}
