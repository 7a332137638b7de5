import rateLimit from "@fastify/rate-limit";
import type { FastifyInstance } from "fastify";
import type { Address } from "viem";
import { createApiServer } from "../api/createApiServer.ts";
import { registerHealthRoutes } from "../api/routes/registerHealthRoutes.ts";
import type { Logger } from "../internal/createLogger.ts";
import { createMetrics } from "../internal/createMetrics.ts";
import { WorkerError } from "../internal/WorkerError.ts";
import { createKeyholder, type CreateKeyholderParameters, type Keyholder } from "./createKeyholder.ts";
import { registerKeyholderRoutes, type KeyholderRateLimit } from "./registerKeyholderRoutes.ts";

export type CreateKeyholderServerParameters = CreateKeyholderParameters & {
  logger: Logger;
  policyRegistry: Address;
  /** Longest pause in a request body, in milliseconds; see createApiServer. */
  bodyIdleTimeoutMs?: number | undefined;
  /** Per-peer limits; default DEFAULT_KEYHOLDER_RATE_LIMIT. */
  rateLimit?: KeyholderRateLimit | undefined;
};

/**
 * Per peer and minute. A training run of n submissions sends each keyholder n share requests, so
 * 1,200 a minute lets one run of 10,000 submissions through in under ten minutes, while a stranger
 * costs at most one RPC call a request for a run id never seen (none for a known run).
 */
export const DEFAULT_KEYHOLDER_RATE_LIMIT: KeyholderRateLimit = { sharesPerMinute: 1_200, specsPerMinute: 30 };

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
  // The limiter must be in place before the routes it guards are declared, so both go in one
  // plugin scope; it answers in the hook that runs first (onRequest), before any body is read.
  void app.register(async (scope) => {
    await scope.register(rateLimit, {
      global: false,
      errorResponseBuilder: (_request, context) =>
        new WorkerError("RATE_LIMITED", `More than ${context.max} requests a minute from one peer.`, {
          hints: [`Retry after ${Math.ceil(context.ttl / 1000)} s.`],
          extra: { limit: context.max, retryAfterSeconds: Math.ceil(context.ttl / 1000) },
        }),
    });
    registerKeyholderRoutes(scope, {
      keyholder,
      chainId: parameters.chainId,
      policyRegistry: parameters.policyRegistry,
      rateLimit: parameters.rateLimit ?? DEFAULT_KEYHOLDER_RATE_LIMIT,
    });
  });
  return { app, keyholder };
}
