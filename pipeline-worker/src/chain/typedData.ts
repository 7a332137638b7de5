import type { Address } from "viem";

/**
 * The EIP-712 messages clients sign for the worker. `GET /v1/eip712` publishes them, so clients
 * never hard-code them.
 *
 * A submission is signed in a domain bound to this chain and to the ContributorRewards contract
 * that will record it, so a signature made for another deployment or chain recovers to another
 * address and is refused. A query is signed in UsageSettlement's own domain ("DAO AI Query"),
 * because the very same signature is later settled on chain by that contract (a test compares
 * this definition with the contract's `queryDigest`).
 */

export const SUBMISSION_DOMAIN_NAME = "DAO AI Submission";
export const QUERY_DOMAIN_NAME = "DAO AI Query";
export const TYPED_DATA_VERSION = "1";

export const submissionTypes = {
  Submission: [
    { name: "contributor", type: "address" },
    { name: "dataHash", type: "bytes32" },
    { name: "size", type: "uint64" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint64" },
  ],
} as const;

export const queryTypes = {
  Query: [
    { name: "consumer", type: "address" },
    { name: "inputHash", type: "bytes32" },
    { name: "nonce", type: "uint64" },
    { name: "epoch", type: "uint64" },
    { name: "deadline", type: "uint64" },
  ],
} as const;

export function submissionDomain(chainId: number, contributorRewards: Address) {
  return {
    name: SUBMISSION_DOMAIN_NAME,
    version: TYPED_DATA_VERSION,
    chainId,
    verifyingContract: contributorRewards,
  } as const;
}

export function queryDomain(chainId: number, usageSettlement: Address) {
  return { name: QUERY_DOMAIN_NAME, version: TYPED_DATA_VERSION, chainId, verifyingContract: usageSettlement } as const;
}
