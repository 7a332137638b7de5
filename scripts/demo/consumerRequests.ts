import type { LocalAccount } from "viem";
import { type QueryResponse, type QuotaStatus } from "@dao-ai/pipeline-worker/consumer-api";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import type { Wallet } from "../lib/actors/createGovernanceDriver.ts";
import { signQueryRequest } from "../lib/actors/signQueryRequest.ts";
import { type Demo, problem } from "./story.ts";

/**
 * A query signed by a consumer with its wallet, as the API takes it: a Usage voucher for the next
 * total of its lane at this worker (which `GET /v1/quota` names, with the epoch and the fee).
 */
export async function signedQuery(d: Demo, consumer: Wallet, input: string) {
  const address = consumer.account.address;
  const quota = await d.worker.get<QuotaStatus>(`/v1/quota?consumer=${address}`);
  if (quota.status !== 200) throw new BaseError(`The worker did not give ${address}'s quota: ${problem(quota)}`);
  return signQueryRequest({
    account: consumer.account as LocalAccount,
    worker: quota.body.worker,
    chainId: d.deployment.chainId,
    usageSettlement: d.deployment.contracts.usageSettlement,
    input,
    epoch: BigInt(quota.body.epoch),
    total: BigInt(quota.body.nextTotal),
    maxFeePerQuery: BigInt(quota.body.feePerQuery),
    deadline: BigInt(Math.floor(Date.now() / 1000) + 600),
  });
}

/** A query with an API key, as `curl -H "Authorization: Bearer ..."` sends it: no signature, no wallet. */
export function bearerQuery(d: Demo, token: string, input: string) {
  return d.worker.post<QueryResponse>("/v1/queries", { input }, { authorization: `Bearer ${token}` });
}
