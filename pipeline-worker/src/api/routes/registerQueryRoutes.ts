import type { FastifyInstance } from "fastify";
import { inputHashOf, type QueryService } from "../../inference/createQueryService.ts";
import { isWorkerError } from "../../internal/WorkerError.ts";
import {
  authenticateQuery,
  signedQueryBody,
  signedQueryHeaders,
  type QueryAuthenticator,
} from "../authenticateQuery.ts";
import {
  bearerQueryRequestSchema,
  queryResponseSchema,
  quotaStatusSchema,
  signedQueryRequestSchema,
} from "../consumerWire.ts";
import { jsonSchemaOf } from "../jsonSchemaOf.ts";
import { parseWire } from "../parseWire.ts";
import { addressSchema } from "../wireScalars.ts";
import { registerOpenAiRoutes } from "./registerOpenAiRoutes.ts";

export type RegisterQueryRoutesParameters = {
  queries: QueryService;
  /** The longest input accepted, in characters. */
  maxInputLength: number;
  /**
   * How a request proves whose query it is, on `POST /v1/queries` and the OpenAI-compatible routes;
   * the first that recognises it decides. Default: a signed Usage voucher (body, or headers).
   */
  authenticators?: readonly QueryAuthenticator[];
  /** Milliseconds since the epoch, the clock the service counts epochs by. */
  now?: () => number;
};

const address = jsonSchemaOf(addressSchema);

/**
 * `POST /v1/queries`: a consumer's query under a signed Usage voucher (or an API key), answered
 * within the DAO's quota with a label and a coarse score (nothing more: the response schema drops
 * anything else a model might return), the consumer's usage after it, and a receipt signed by the
 * worker. `GET /v1/quota?consumer=[&key=]` (or `/v1/quota/:consumer`): the consumer's quota and
 * usage here in the current epoch, the fee, this worker's address and the lane's `nextTotal`:
 * everything a client needs to sign its next voucher. The same queries through OpenAI's API:
 * registerOpenAiRoutes.
 */
export function registerQueryRoutes(app: FastifyInstance, parameters: RegisterQueryRoutesParameters): void {
  const { queries } = parameters;
  const now = parameters.now ?? Date.now;
  const authenticators = parameters.authenticators ?? [signedQueryBody, signedQueryHeaders];
  const signedBody = jsonSchemaOf(signedQueryRequestSchema);
  const bearerBody = jsonSchemaOf(bearerQueryRequestSchema);
  for (const schema of [signedBody, bearerBody]) schema.properties!.input!.maxLength = parameters.maxInputLength;
  // The input alone is an API key's request; anything more is a signed voucher, checked whole.
  const body = { type: "object", if: { maxProperties: 1 }, then: bearerBody, else: signedBody };

  app.post<{ Body: Record<string, unknown> & { input: string } }>(
    "/v1/queries",
    { schema: { body, response: { 200: jsonSchemaOf(queryResponseSchema) } } },
    async (request, reply) => {
      try {
        // The schema Fastify checked tells the two apart the same way: the input alone is a key's.
        const body = parseWire(
          Object.keys(request.body).length > 1 ? signedQueryRequestSchema : bearerQueryRequestSchema,
          request.body,
        );
        const { input } = body;
        const credential = authenticateQuery(authenticators, {
          headers: request.headers,
          body,
          inputHash: inputHashOf(input),
        });
        return await queries.query(credential, input);
      } catch (error) {
        if (isWorkerError(error, "QUOTA_EXHAUSTED") && typeof error.extra.resetsAt === "number") {
          const seconds = Math.max(0, error.extra.resetsAt - Math.floor(now() / 1000));
          void reply.header("retry-after", String(seconds));
        }
        throw error;
      }
    },
  );

  const quotaResponse = { 200: jsonSchemaOf(quotaStatusSchema) };
  app.get<{ Querystring: { consumer: string; key?: string } }>(
    "/v1/quota",
    {
      schema: {
        querystring: {
          type: "object",
          required: ["consumer"],
          additionalProperties: false,
          properties: { consumer: address, key: address },
        },
        response: quotaResponse,
      },
    },
    async (request) => queries.quota(request.query.consumer, request.query.key),
  );
  app.get<{ Params: { consumer: string } }>(
    "/v1/quota/:consumer",
    {
      schema: {
        params: { type: "object", required: ["consumer"], properties: { consumer: address } },
        response: quotaResponse,
      },
    },
    async (request) => queries.quota(request.params.consumer),
  );

  registerOpenAiRoutes(app, {
    queries,
    maxInputLength: parameters.maxInputLength,
    authenticators,
    ...(parameters.now ? { now: parameters.now } : {}),
  });
}
