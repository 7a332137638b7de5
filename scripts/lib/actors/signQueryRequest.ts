import { keccak256, toHex, zeroAddress, type Address, type LocalAccount } from "viem";
import { usageDomain, usageTypes } from "@dao-ai/pipeline-worker/eip712";
import type { SignedQueryRequest } from "@dao-ai/pipeline-worker/consumer-api";

export type SignQueryRequestParameters = {
  /** Who signs: the consumer's own account, or a session key the consumer authorised (then pass `consumer`). */
  account: LocalAccount;
  /** The consumer who pays; defaults to the signer (the consumer signing with its own wallet). */
  consumer?: Address;
  /** The worker that will serve and settle the query: the lane's worker. */
  worker: Address;
  chainId: number;
  /** The UsageSettlement deployment that will settle the usage. */
  usageSettlement: Address;
  input: string;
  epoch: bigint;
  /** The lane's running total with this query (the worker's `GET /v1/quota` says the next one). */
  total: bigint;
  /** The most the consumer lets the worker charge per query (a session key signs its grant's maximum). */
  maxFeePerQuery: bigint;
  /** Unix seconds. */
  deadline: bigint;
};

/**
 * The body of a signed `POST /v1/queries` as a consumer's client makes it: the Usage voucher
 * "this worker may charge me up to `total` queries of this lane, at most `maxFeePerQuery` each",
 * signed with EIP-712 (viem), with the consumer's wallet or a session key.
 */
export async function signQueryRequest(parameters: SignQueryRequestParameters): Promise<SignedQueryRequest> {
  const { account, input, epoch, total, maxFeePerQuery, deadline } = parameters;
  const consumer = parameters.consumer ?? account.address;
  const key = consumer === account.address ? zeroAddress : account.address;
  const signature = await account.signTypedData({
    domain: usageDomain(parameters.chainId, parameters.usageSettlement),
    types: usageTypes,
    primaryType: "Usage",
    message: {
      consumer,
      key,
      worker: parameters.worker,
      epoch,
      total,
      maxFeePerQuery,
      inputHash: keccak256(toHex(input)),
      deadline,
    },
  });
  return {
    consumer,
    input,
    ...(key === zeroAddress ? {} : { key }),
    epoch: epoch.toString(),
    total: total.toString(),
    maxFeePerQuery: maxFeePerQuery.toString(),
    deadline: Number(deadline),
    signature,
  };
}
