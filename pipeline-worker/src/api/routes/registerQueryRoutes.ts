import type { FastifyInstance } from "fastify";
import type { QueryRequest, QueryService } from "../../inference/createQueryService.ts";
import { isWorkerError } from "../../internal/WorkerError.ts";
import { queryReceiptSchema, queryUsageSchema, responseJsonSchema } from "../openAiWire.ts";
import { registerOpenAiRoutes } from "./registerOpenAiRoutes.ts";

export type RegisterQueryRoutesParameters = {
  queries: QueryService;
  /** The longest input accepted, in characters. */
  maxInputLength: number;
  /** Milliseconds since the epoch, the clock the service counts epochs by. */
  now?: () => number;
};

const address = { type: "string", pattern: "^0x[0-9a-fA-F]{40}$" } as const;
const decimal = { type: "string", pattern: "^(0|[1-9][0-9]{0,19})$" } as const;

const usageSchema = responseJsonSchema(queryUsageSchema) as {
  required: string[];
  properties: Record<string, unknown>;
};
const receiptSchema = responseJsonSchema(queryReceiptSchema);

/**
 * `POST /v1/queries`: a consumer's signed query, answered within the DAO's quota with a label and a
 * coarse score (nothing more: the response schema drops anything else a model might return), the
 * consumer's usage after it, and a receipt signed by the worker. `GET /v1/quota/:consumer`: the
 * consumer's quota and usage in the current epoch, as this worker counts it. The same queries through
 * OpenAI's API: registerOpenAiRoutes.
 */
export function registerQueryRoutes(app: FastifyInstance, parameters: RegisterQueryRoutesParameters): void {
  const { queries } = parameters;
  const now = parameters.now ?? Date.now;

  app.post<{ Body: QueryRequest }>(
    "/v1/queries",
    {
      schema: {
        body: {
          type: "object",
          required: ["consumer", "input", "nonce", "epoch", "deadline", "signature"],
          additionalProperties: false,
          properties: {
            consumer: address,
            input: { type: "string", minLength: 1, maxLength: parameters.maxInputLength },
            nonce: decimal,
            epoch: decimal,
            deadline: { type: "integer", minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
            signature: { type: "string", pattern: "^0x[0-9a-fA-F]{130}$" },
          },
        },
        response: {
          200: {
            type: "object",
            required: ["answer", "usage", "receipt"],
            properties: {
              answer: {
                type: "object",
                required: ["label", "score"],
                properties: { label: { type: "string" }, score: { type: "string", enum: ["low", "medium", "high"] } },
              },
              usage: usageSchema,
              receipt: receiptSchema,
            },
          },
        },
      },
    },
    async (request, reply) => {
      try {
        return await queries.query(request.body);
      } catch (error) {
        if (isWorkerError(error, "QUOTA_EXHAUSTED") && typeof error.extra.resetsAt === "number") {
          const seconds = Math.max(0, error.extra.resetsAt - Math.floor(now() / 1000));
          void reply.header("retry-after", String(seconds));
        }
        throw error;
      }
    },
  );

  app.get<{ Params: { consumer: string } }>(
    "/v1/quota/:consumer",
    {
      schema: {
        params: { type: "object", required: ["consumer"], properties: { consumer: address } },
        response: {
          200: {
            ...usageSchema,
            required: ["consumer", ...usageSchema.required],
            properties: { consumer: address, ...usageSchema.properties },
          },
        },
      },
    },
    async (request) => queries.quota(request.params.consumer),
  );

  registerOpenAiRoutes(app, {
    queries,
    maxInputLength: parameters.maxInputLength,
    ...(parameters.now ? { now: parameters.now } : {}),
  });
}
