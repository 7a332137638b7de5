import { domainSeparator, hexToBytes, keccak256, toHex, type Address, type Hex } from "viem";

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

/** The fields of a Query, as signed. */
export type QueryMessage = {
  consumer: Address;
  inputHash: Hex;
  nonce: bigint;
  epoch: bigint;
  deadline: bigint;
};

const QUERY_TYPE_HASH = hexToBytes(
  keccak256(toHex("Query(address consumer,bytes32 inputHash,uint64 nonce,uint64 epoch,uint64 deadline)")),
);

/**
 * The EIP-712 digest of a Query in one deployment's domain, as `hashTypedData` computes it (a test
 * compares the two), with the domain separator and the type hash computed once: the worker hashes
 * one per query, so the generic encoder's per-call work showed in its profile.
 */
export function createQueryHasher(chainId: number, usageSettlement: Address): (query: QueryMessage) => Uint8Array {
  const separator = hexToBytes(domainSeparator({ domain: queryDomain(chainId, usageSettlement) }));
  return (query) => {
    // typeHash, consumer, inputHash, nonce, epoch, deadline: one 32-byte word each.
    const struct = Buffer.alloc(6 * 32);
    struct.set(QUERY_TYPE_HASH, 0);
    struct.write(query.consumer.slice(2), 32 + 12, 20, "hex");
    struct.write(query.inputHash.slice(2), 64, 32, "hex");
    struct.writeBigUInt64BE(query.nonce, 96 + 24);
    struct.writeBigUInt64BE(query.epoch, 128 + 24);
    struct.writeBigUInt64BE(query.deadline, 160 + 24);
    const message = new Uint8Array(66);
    message[0] = 0x19;
    message[1] = 0x01;
    message.set(separator, 2);
    message.set(keccak256(struct, "bytes"), 34);
    return keccak256(message, "bytes");
  };
}
