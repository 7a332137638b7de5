import { readFile } from "node:fs/promises";
import type { FastifyInstance } from "fastify";
import type { Metrics } from "../../internal/createMetrics.ts";

export type RegisterHealthRoutesParameters = {
  metrics: Metrics;
  /** Throws a WorkerError (POLICY_STALE, STORAGE_UNAVAILABLE, ...) when the worker cannot serve. */
  checkReady: () => Promise<void>;
};

/** Where the error catalogue is served; problems' `type` URIs point into it. */
export const ERROR_DOCS_PATH = "/docs/errors.md";

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
  // Each problem's `type` links here, so a client that meets a code can read why and what to do.
  const errorsDoc = new URL("../../../docs/errors.md", import.meta.url);
  app.get(ERROR_DOCS_PATH, async (_request, reply) => {
    void reply.type("text/markdown; charset=utf-8");
    return readFile(errorsDoc, "utf8");
  });
  app.get("/metrics", async (_request, reply) => {
    void reply.type(parameters.metrics.registry.contentType);
    return parameters.metrics.registry.metrics();
  });
}
