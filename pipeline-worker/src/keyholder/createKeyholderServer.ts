import type { FastifyInstance } from "fastify";
import type { Address } from "viem";
import { createApiServer } from "../api/createApiServer.ts";
import { registerHealthRoutes } from "../api/routes/registerHealthRoutes.ts";
import type { Logger } from "../internal/createLogger.ts";
import { createMetrics } from "../internal/createMetrics.ts";
import { createKeyholder, type CreateKeyholderParameters, type Keyholder } from "./createKeyholder.ts";
import { registerKeyholderRoutes } from "./registerKeyholderRoutes.ts";

export type CreateKeyholderServerParameters = CreateKeyholderParameters & {
  logger: Logger;
  policyRegistry: Address;
  /** Longest pause in a request body, in milliseconds; see createApiServer. */
  bodyIdleTimeoutMs?: number | undefined;
};

/**
 * A keyholder behind its own small HTTP server: the worker's Fastify set-up (schemas on every
 * route, problem+json refusals with stable codes) with the keyholder routes and health checks.
 */
export function createKeyholderServer(parameters: CreateKeyholderServerParameters): {
  app: FastifyInstance;
  keyholder: Keyholder;
} {
  const keyholder = createKeyholder(parameters);
  const metrics = createMetrics({ defaultMetrics: false });
  const app = createApiServer({
    logger: parameters.logger,
    metrics,
    docsUrl: "https://github.com/dao-governed-ai/dao-governed-ai/blob/main/pipeline-worker/docs/errors.md",
    bodyIdleTimeoutMs: parameters.bodyIdleTimeoutMs,
  });
  registerHealthRoutes(app, {
    metrics,
    checkReady: async () => {
      await parameters.client.getBlockNumber();
    },
  });
  registerKeyholderRoutes(app, { keyholder, chainId: parameters.chainId, policyRegistry: parameters.policyRegistry });
  return { app, keyholder };
}
