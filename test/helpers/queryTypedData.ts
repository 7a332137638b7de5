import type { Address, Hex, TypedDataDomain } from "viem";

/*
 * The EIP-712 typed data a consumer signs for one query, as UsageSettlement verifies it. The
 * pipeline worker will own the canonical definition (it builds and checks these signatures); until
 * then this module is the TypeScript side of the parity test against `queryDigest`, and the
 * worker's copy must match it.
 */

/** The domain UsageSettlement's constructor passes to EIP712. */
export const QUERY_DOMAIN_NAME = "DAO AI Query";
export const QUERY_DOMAIN_VERSION = "1";

/** Mirrors `QUERY_TYPEHASH` in UsageSettlement.sol. */
export const QUERY_TYPES = {
  Query: [
    { name: "consumer", type: "address" },
    { name: "inputHash", type: "bytes32" },
    { name: "nonce", type: "uint64" },
    { name: "epoch", type: "uint64" },
    { name: "deadline", type: "uint64" },
  ],
} as const;

export type QueryMessage = {
  consumer: Address;
  inputHash: Hex;
  nonce: bigint;
  epoch: bigint;
  deadline: bigint;
};

export type QueryTypedDataParameters = {
  chainId: number;
  /** The UsageSettlement deployment the query will be settled by. */
  usageSettlement: Address;
  message: QueryMessage;
};

/** The full typed data, ready for viem's `signTypedData` and `hashTypedData`. */
export function queryTypedData({ chainId, usageSettlement, message }: QueryTypedDataParameters) {
  const domain: TypedDataDomain = {
    name: QUERY_DOMAIN_NAME,
    version: QUERY_DOMAIN_VERSION,
    chainId,
    verifyingContract: usageSettlement,
  };
  return { domain, types: QUERY_TYPES, primaryType: "Query" as const, message };
}
