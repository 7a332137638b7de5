import type { FastifyInstance } from "fastify";
import type { Address } from "viem";
import { queryDomain, queryTypes, submissionDomain, submissionTypes } from "../../chain/typedData.ts";

export type RegisterPolicyRoutesParameters = {
  chainId: number;
  contributorRewards: Address;
  usageSettlement: Address;
  /** The current policy as JSON, with the block and policy version it was read at; throws POLICY_STALE when stale. */
  policySnapshot: () => unknown;
};

/**
 * `GET /v1/policy`: the policy the worker enforces right now. `GET /v1/eip712`: the domains and
 * types that clients must sign, so no client hard-codes them.
 */
export function registerPolicyRoutes(app: FastifyInstance, parameters: RegisterPolicyRoutesParameters): void {
  app.get("/v1/policy", async () => parameters.policySnapshot());

  const eip712 = {
    submission: {
      domain: submissionDomain(parameters.chainId, parameters.contributorRewards),
      types: submissionTypes,
      primaryType: "Submission",
    },
    query: {
      domain: queryDomain(parameters.chainId, parameters.usageSettlement),
      types: queryTypes,
      primaryType: "Query",
    },
  };
  app.get("/v1/eip712", async () => eip712);
}
