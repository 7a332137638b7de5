import type { FastifyInstance } from "fastify";
import type { Address } from "viem";
import { keyGrantTypes, submissionDomain, submissionTypes, usageDomain, usageTypes } from "../../chain/typedData.ts";
import { jsonSchemaOf } from "../jsonSchemaOf.ts";
import { eip712SpecSchema, policySnapshotSchema, type Eip712Spec, type PolicySnapshotWire } from "../policyWire.ts";
import { addressSchema } from "../wireScalars.ts";

export type RegisterPolicyRoutesParameters = {
  chainId: number;
  contributorRewards: Address;
  usageSettlement: Address;
  /**
   * The current policy as JSON, with the block and policy version it was read at, and with
   * `consumer` that consumer's access (voted quota or tier membership); throws POLICY_STALE when stale.
   */
  policySnapshot: (consumer: Address | undefined) => PolicySnapshotWire;
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
          properties: { consumer: jsonSchemaOf(addressSchema) },
          additionalProperties: false,
        },
        response: { 200: jsonSchemaOf(policySnapshotSchema) },
      },
    },
    async (request) => parameters.policySnapshot(request.query.consumer),
  );

  const eip712: Eip712Spec = {
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
  app.get("/v1/eip712", { schema: { response: { 200: jsonSchemaOf(eip712SpecSchema) } } }, async () => eip712);
}
