import type { FastifyInstance } from "fastify";
import { getAddress, type Address } from "viem";
import type { KeyGrantRecord, KeyRegistry } from "../../inference/createKeyRegistry.ts";
import type { UsageStore } from "../../inference/createUsageStore.ts";
import type { PolicySync } from "../../policy/createPolicySync.ts";
import {
  keyGrantToWire,
  keyListSchema,
  keyStatusSchema,
  registerKeyRequestSchema,
  type KeyList,
  type KeyStatus,
  type RegisterKeyRequest,
} from "../consumerWire.ts";
import { jsonSchemaOf } from "../jsonSchemaOf.ts";
import { parseWire } from "../parseWire.ts";
import { addressSchema } from "../wireScalars.ts";

export type RegisterKeyRoutesParameters = {
  keys: KeyRegistry;
  store: Pick<UsageStore, "history" | "unsettledOfKey">;
  policy: Pick<PolicySync, "requireFreshPolicy">;
  /** Milliseconds since the epoch, the clock expiries are read by. */
  now?: () => number;
};

/**
 * `POST /v1/keys`: registers a consumer-signed KeyGrant at this worker (createKeyRegistry says
 * what is checked), 201 when new, 200 when it was registered already. `GET /v1/keys?consumer=`:
 * the consumer's keys this worker knows, each with what it served here, what is settled on chain
 * for it at every worker, its revocation and what remains of its cap.
 */
export function registerKeyRoutes(app: FastifyInstance, parameters: RegisterKeyRoutesParameters): void {
  const { keys, store } = parameters;
  const now = parameters.now ?? Date.now;

  async function statusOf(record: KeyGrantRecord, head: string): Promise<KeyStatus> {
    const { grant } = record;
    const [state, lanes] = await Promise.all([
      keys.keyState(grant.consumer, grant.key, head),
      store.history(grant.consumer),
    ]);
    const usedHere = lanes.reduce((sum, lane) => (lane.lane.key === grant.key ? sum + lane.served : sum), 0n);
    const spent = state.used + store.unsettledOfKey(grant.consumer, grant.key);
    const remaining = grant.maxQueries > spent ? grant.maxQueries - spent : 0n;
    return {
      ...keyGrantToWire(grant),
      registeredAt: record.registeredAt,
      usedHere: usedHere.toString(),
      used: state.used.toString(),
      revokedAt: state.revokedAt === 0n ? null : Number(state.revokedAt),
      remaining: remaining.toString(),
      state:
        state.revokedAt !== 0n
          ? "revoked"
          : grant.expiresAt <= BigInt(Math.floor(now() / 1000))
            ? "expired"
            : remaining === 0n
              ? "exhausted"
              : "active",
    };
  }

  const headOf = () => {
    const { head } = parameters.policy.requireFreshPolicy();
    return head.blockHash ?? String(head.blockNumber);
  };

  app.post<{ Body: RegisterKeyRequest }>(
    "/v1/keys",
    {
      schema: {
        body: jsonSchemaOf(registerKeyRequestSchema),
        response: { 200: jsonSchemaOf(keyStatusSchema), 201: jsonSchemaOf(keyStatusSchema) },
      },
    },
    async (request, reply) => {
      const { grant, signature } = parseWire(registerKeyRequestSchema, request.body);
      const { record, created } = await keys.register(
        {
          consumer: grant.consumer,
          key: grant.key,
          worker: grant.worker,
          maxQueries: BigInt(grant.maxQueries),
          maxFeePerQuery: BigInt(grant.maxFeePerQuery),
          expiresAt: BigInt(grant.expiresAt),
        },
        signature,
      );
      void reply.status(created ? 201 : 200);
      return statusOf(record, headOf());
    },
  );

  app.get<{ Querystring: { consumer: string } }>(
    "/v1/keys",
    {
      schema: {
        querystring: {
          type: "object",
          required: ["consumer"],
          properties: { consumer: jsonSchemaOf(addressSchema) },
        },
        response: { 200: jsonSchemaOf(keyListSchema) },
      },
    },
    async (request): Promise<KeyList> => {
      const consumer: Address = getAddress(request.query.consumer.toLowerCase());
      const head = headOf();
      return {
        consumer,
        worker: keys.worker,
        keys: await Promise.all(keys.list(consumer).map((record) => statusOf(record, head))),
      };
    },
  );
}
