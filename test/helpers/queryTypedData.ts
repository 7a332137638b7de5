import type { Address } from "viem";
import { queryDomain, queryTypes, type QueryMessage } from "../../pipeline-worker/src/chain/typedData.ts";

/*
 * The EIP-712 typed data a consumer signs for one query, as UsageSettlement verifies it, built
 * from the worker's canonical definition (pipeline-worker/src/chain/typedData.ts); the parity test
 * in test/rewards/UsageSettlement.test.ts checks it against the contract's `queryDigest`.
 */

/** Mirrors `QUERY_TYPEHASH` in UsageSettlement.sol. */
export const QUERY_TYPES = queryTypes;

export type { QueryMessage };

export type QueryTypedDataParameters = {
  chainId: number;
  /** The UsageSettlement deployment the query will be settled by. */
  usageSettlement: Address;
  message: QueryMessage;
};

/** The full typed data, ready for viem's `signTypedData` and `hashTypedData`. */
export function queryTypedData({ chainId, usageSettlement, message }: QueryTypedDataParameters) {
  return { domain: queryDomain(chainId, usageSettlement), types: QUERY_TYPES, primaryType: "Query" as const, message };
}
