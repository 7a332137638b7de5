import type { Address } from "viem";
import {
  keyGrantTypes,
  usageDomain,
  usageTypes,
  type KeyGrantMessage,
  type UsageMessage,
} from "@dao-ai/pipeline-worker/eip712";

/*
 * The EIP-712 typed data a consumer (or its key) signs, as UsageSettlement verifies it, built from
 * the worker's canonical definition (`@dao-ai/pipeline-worker/eip712`); the parity tests in
 * test/rewards/UsageSettlement.test.ts check them against the contract's `usageDigest` and
 * `keyGrantDigest`.
 */

export type { KeyGrantMessage, UsageMessage };

export type TypedDataParameters<M> = {
  chainId: number;
  /** The UsageSettlement deployment that settles the usage. */
  usageSettlement: Address;
  message: M;
};

/** A Usage voucher ("charge me up to `total` queries in this lane"), ready for viem's `signTypedData` and `hashTypedData`. */
export function usageTypedData({ chainId, usageSettlement, message }: TypedDataParameters<UsageMessage>) {
  return { domain: usageDomain(chainId, usageSettlement), types: usageTypes, primaryType: "Usage" as const, message };
}

/** A KeyGrant (the consumer authorises a key, with its cap and expiry), ready for `signTypedData` and `hashTypedData`. */
export function keyGrantTypedData({ chainId, usageSettlement, message }: TypedDataParameters<KeyGrantMessage>) {
  return {
    domain: usageDomain(chainId, usageSettlement),
    types: keyGrantTypes,
    primaryType: "KeyGrant" as const,
    message,
  };
}
