import { keccak_256 } from "@noble/hashes/sha3.js";
import { domainSeparator, hexToBytes, keccak256, toHex, type Address, type Hex } from "viem";

/**
 * The EIP-712 messages clients sign for the worker. `GET /v1/eip712` publishes them, so clients
 * never hard-code them.
 *
 * A submission is signed in a domain bound to this chain and to the ContributorRewards contract
 * that will record it, so a signature made for another deployment or chain recovers to another
 * address and is refused. Usage vouchers and key grants are signed in UsageSettlement's own domain
 * ("DAO AI Query", version 2), because the very same signatures are later settled on chain by that
 * contract (tests compare these definitions with the contract's `usageDigest` and `keyGrantDigest`).
 * The package exports this file as `@dao-ai/pipeline-worker/eip712`.
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

export function submissionDomain(chainId: number, contributorRewards: Address) {
  return {
    name: SUBMISSION_DOMAIN_NAME,
    version: TYPED_DATA_VERSION,
    chainId,
    verifyingContract: contributorRewards,
  } as const;
}

/** The version of UsageSettlement's domain since usage is signed as cumulative vouchers. */
export const USAGE_DOMAIN_VERSION = "2";

/**
 * A Usage voucher: "`worker` may charge me up to `total` queries of this lane (consumer, key,
 * worker, epoch), at most `maxFeePerQuery` each". `key` is the zero address when the consumer signs
 * with its own wallet, else the session key that signs. `inputHash` binds the request that carried it.
 */
export const usageTypes = {
  Usage: [
    { name: "consumer", type: "address" },
    { name: "key", type: "address" },
    { name: "worker", type: "address" },
    { name: "epoch", type: "uint64" },
    { name: "total", type: "uint64" },
    { name: "maxFeePerQuery", type: "uint256" },
    { name: "inputHash", type: "bytes32" },
    { name: "deadline", type: "uint64" },
  ],
} as const;

/** A consumer's authorisation of an API or session key, signed once with its wallet. */
export const keyGrantTypes = {
  KeyGrant: [
    { name: "consumer", type: "address" },
    { name: "key", type: "address" },
    { name: "worker", type: "address" },
    { name: "maxQueries", type: "uint64" },
    { name: "maxFeePerQuery", type: "uint256" },
    { name: "expiresAt", type: "uint64" },
  ],
} as const;

export function usageDomain(chainId: number, usageSettlement: Address) {
  return {
    name: QUERY_DOMAIN_NAME,
    version: USAGE_DOMAIN_VERSION,
    chainId,
    verifyingContract: usageSettlement,
  } as const;
}

/** The fields of a Usage voucher, as signed. */
export type UsageMessage = {
  consumer: Address;
  key: Address;
  worker: Address;
  epoch: bigint;
  total: bigint;
  maxFeePerQuery: bigint;
  inputHash: Hex;
  deadline: bigint;
};

/** The fields of a KeyGrant, as signed. */
export type KeyGrantMessage = {
  consumer: Address;
  key: Address;
  /** The zero address: any authorised worker. */
  worker: Address;
  maxQueries: bigint;
  maxFeePerQuery: bigint;
  expiresAt: bigint;
};

const typeHashOf = (types: readonly { name: string; type: string }[], name: string) =>
  hexToBytes(keccak256(toHex(`${name}(${types.map((field) => `${field.type} ${field.name}`).join(",")})`)));
const USAGE_TYPE_HASH = typeHashOf(usageTypes.Usage, "Usage");
const KEY_GRANT_TYPE_HASH = typeHashOf(keyGrantTypes.KeyGrant, "KeyGrant");

/**
 * An EIP-712 digest function for one struct in one domain, with the domain separator and type
 * hash computed once: `encode` writes the struct's words (after the type hash) into a zeroed
 * buffer. Hashed with @noble/hashes' keccak_256 on the bytes, as viem's `keccak256` wrapper adds
 * checks and ships an older, slower @noble/hashes (a signed query hashes four Keccak blocks here).
 * The buffers are reused: the function is synchronous, so no two calls share them.
 */
function createStructHasher<T>(
  separatorHex: Hex,
  typeHash: Uint8Array,
  words: number,
  encode: (struct: Buffer, message: T) => void,
): (message: T) => Uint8Array {
  const struct = Buffer.alloc((words + 1) * 32);
  struct.set(typeHash, 0);
  // "\x19\x01" ‖ domainSeparator ‖ hashStruct(message): only the last 32 bytes change.
  const prefixed = new Uint8Array(66);
  prefixed[0] = 0x19;
  prefixed[1] = 0x01;
  prefixed.set(hexToBytes(separatorHex), 2);
  return (message) => {
    struct.fill(0, 32);
    encode(struct, message);
    prefixed.set(keccak_256(struct), 34);
    return keccak_256(prefixed);
  };
}

/** Writes an address into the 32-byte word at `offset` (right-aligned). */
const writeAddress = (struct: Buffer, offset: number, address: Address) =>
  struct.write(address.slice(2), offset + 12, 20, "hex");
/** Writes a uint256 into the 32-byte word at `offset`; the caller has checked its range. */
const writeUint256 = (struct: Buffer, offset: number, value: bigint) =>
  struct.write(value.toString(16).padStart(64, "0"), offset, 32, "hex");

/**
 * The EIP-712 digest of a Usage voucher in one deployment's domain, as `hashTypedData` computes it
 * (a test compares the two), with the domain separator and the type hash computed once: the worker
 * hashes one per signed query, and the generic encoder's per-call work showed in its profile. The
 * numbers must fit their types (uint64, uint256); the caller checks them.
 */
export function createUsageHasher(chainId: number, usageSettlement: Address): (usage: UsageMessage) => Uint8Array {
  const separator = domainSeparator({ domain: usageDomain(chainId, usageSettlement) });
  return createStructHasher<UsageMessage>(separator, USAGE_TYPE_HASH, 8, (struct, usage) => {
    writeAddress(struct, 32, usage.consumer);
    writeAddress(struct, 64, usage.key);
    writeAddress(struct, 96, usage.worker);
    struct.writeBigUInt64BE(usage.epoch, 128 + 24);
    struct.writeBigUInt64BE(usage.total, 160 + 24);
    writeUint256(struct, 192, usage.maxFeePerQuery);
    struct.write(usage.inputHash.slice(2), 224, 32, "hex");
    struct.writeBigUInt64BE(usage.deadline, 256 + 24);
  });
}

/** The EIP-712 digest of a KeyGrant in one deployment's domain, as `hashTypedData` computes it. */
export function createKeyGrantHasher(
  chainId: number,
  usageSettlement: Address,
): (grant: KeyGrantMessage) => Uint8Array {
  const separator = domainSeparator({ domain: usageDomain(chainId, usageSettlement) });
  return createStructHasher<KeyGrantMessage>(separator, KEY_GRANT_TYPE_HASH, 6, (struct, grant) => {
    writeAddress(struct, 32, grant.consumer);
    writeAddress(struct, 64, grant.key);
    writeAddress(struct, 96, grant.worker);
    struct.writeBigUInt64BE(grant.maxQueries, 128 + 24);
    writeUint256(struct, 160, grant.maxFeePerQuery);
    struct.writeBigUInt64BE(grant.expiresAt, 192 + 24);
  });
}
