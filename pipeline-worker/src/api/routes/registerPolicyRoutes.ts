import type { FastifyInstance } from "fastify";
import type { Address } from "viem";
import { z } from "zod";
import { keyGrantTypes, submissionDomain, submissionTypes, usageDomain, usageTypes } from "../../chain/typedData.ts";
import { consumerAccessJsonSchema, policyJsonSchema } from "../../policy/policyJson.ts";

const decimal = { type: "string", pattern: "^[0-9]+$" } as const;
const hash = { type: ["string", "null"], pattern: "^0x[0-9a-fA-F]{64}$" } as const;

/** The response of `GET /v1/policy` (PolicySync's PolicySnapshot); the policy part comes from its zod schema. */
const policySnapshotSchema = {
  type: "object",
  required: [
    "chainId",
    "registry",
    "policy",
    "blockNumber",
    "blockHash",
    "policyVersion",
    "head",
    "confirmations",
    "killSwitchUnconfirmed",
    "epochs",
    "syncedAt",
  ],
  properties: {
    chainId: { type: "integer" },
    registry: { type: "string" },
    policy: z.toJSONSchema(policyJsonSchema, { target: "draft-7", io: "input" }),
    blockNumber: decimal,
    blockHash: hash,
    policyVersion: decimal,
    head: {
      type: "object",
      required: ["blockNumber", "blockHash", "policyVersion"],
      properties: { blockNumber: decimal, blockHash: hash, policyVersion: decimal },
    },
    confirmations: { type: "integer" },
    killSwitchUnconfirmed: { type: "boolean" },
    epochs: {
      type: "object",
      required: ["epochLength", "epochGenesis"],
      properties: { epochLength: decimal, epochGenesis: decimal },
    },
    syncedAt: { type: "string" },
    consumer: z.toJSONSchema(consumerAccessJsonSchema, { target: "draft-7", io: "input" }),
  },
};

const typedDataSchema = {
  type: "object",
  required: ["domain", "types", "primaryType"],
  properties: {
    domain: {
      type: "object",
      required: ["name", "version", "chainId", "verifyingContract"],
      properties: {
        name: { type: "string" },
        version: { type: "string" },
        chainId: { type: "integer" },
        verifyingContract: { type: "string" },
      },
    },
    types: {
      type: "object",
      additionalProperties: {
        type: "array",
        items: {
          type: "object",
          required: ["name", "type"],
          properties: { name: { type: "string" }, type: { type: "string" } },
        },
      },
    },
    primaryType: { type: "string" },
  },
} as const;

export type RegisterPolicyRoutesParameters = {
  chainId: number;
  contributorRewards: Address;
  usageSettlement: Address;
  /**
   * The current policy as JSON, with the block and policy version it was read at, and with
   * `consumer` that consumer's access (voted quota or tier membership); throws POLICY_STALE when stale.
   */
  policySnapshot: (consumer: Address | undefined) => unknown;
};

/**
 * `GET /v1/policy`: the policy the worker enforces right now, its access tiers and memberships
 * included; `?consumer=0x…` adds where that consumer's quota comes from. `GET /v1/eip712`: the domains and
 * types that clients must sign (a submission; a query's Usage voucher; a key's KeyGrant), so no
 * client hard-codes them.
 */
export function registerPolicyRoutes(app: FastifyInstance, parameters: RegisterPolicyRoutesParameters): void {
  app.get<{ Querystring: { consumer?: Address } }>(
    "/v1/policy",
    {
      schema: {
        querystring: {
          type: "object",
          properties: { consumer: { type: "string", pattern: "^0x[0-9a-fA-F]{40}$" } },
          additionalProperties: false,
        },
        response: { 200: policySnapshotSchema },
      },
    },
    async (request) => parameters.policySnapshot(request.query.consumer),
  );

  const eip712 = {
    submission: {
      domain: submissionDomain(parameters.chainId, parameters.contributorRewards),
      types: submissionTypes,
      primaryType: "Submission",
    },
    // A query's Usage voucher and a key's grant, both in UsageSettlement's domain (version 2).
    usage: {
      domain: usageDomain(parameters.chainId, parameters.usageSettlement),
      types: usageTypes,
      primaryType: "Usage",
    },
    keyGrant: {
      domain: usageDomain(parameters.chainId, parameters.usageSettlement),
      types: keyGrantTypes,
      primaryType: "KeyGrant",
    },
  };
  app.get(
    "/v1/eip712",
    {
      schema: {
        response: {
          200: {
            type: "object",
            required: ["submission", "usage", "keyGrant"],
            properties: { submission: typedDataSchema, usage: typedDataSchema, keyGrant: typedDataSchema },
          },
        },
      },
    },
    async () => eip712,
  );
}
