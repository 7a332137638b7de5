import { keccak256, toHex, type Address, type LocalAccount } from "viem";
import { queryDomain, queryTypes } from "../../pipeline-worker/src/chain/typedData.ts";
import type { QueryRequest } from "../../pipeline-worker/src/inference/createQueryService.ts";

export type SignQueryRequestParameters = {
  /** The consumer, who signs. */
  account: LocalAccount;
  chainId: number;
  /** The UsageSettlement deployment that will settle the query. */
  usageSettlement: Address;
  input: string;
  nonce: bigint;
  epoch: bigint;
  /** Unix seconds. */
  deadline: bigint;
};

/** The body of `POST /v1/queries` as a consumer makes it: the query signed with EIP-712 (viem). */
export async function signQueryRequest(parameters: SignQueryRequestParameters): Promise<QueryRequest> {
  const { account, input, nonce, epoch, deadline } = parameters;
  const signature = await account.signTypedData({
    domain: queryDomain(parameters.chainId, parameters.usageSettlement),
    types: queryTypes,
    primaryType: "Query",
    message: { consumer: account.address, inputHash: keccak256(toHex(input)), nonce, epoch, deadline },
  });
  return {
    consumer: account.address,
    input,
    nonce: nonce.toString(),
    epoch: epoch.toString(),
    deadline: Number(deadline),
    signature,
  };
}
