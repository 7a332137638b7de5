import { concat, hashTypedData, zeroAddress, type Address, type Hex } from "viem";

/** A Safe transaction as owners sign it (EIP-712 `SafeTx`, Safe 1.3 and later). */
export type SafeTransaction = {
  to: Address;
  value: string;
  data: Hex;
  operation: 0 | 1;
  safeTxGas: string;
  baseGas: string;
  gasPrice: string;
  gasToken: Address;
  refundReceiver: Address;
  nonce: string;
};

/** A transaction being gathered: what it does, and the owners' signatures so far. */
export type PendingSafeTransaction = {
  safe: Address;
  chainId: number;
  /** What it does, in words. */
  summary: string;
  transaction: SafeTransaction;
  signatures: Record<Address, Hex>;
};

export const SAFE_TX_TYPES = {
  SafeTx: [
    { name: "to", type: "address" },
    { name: "value", type: "uint256" },
    { name: "data", type: "bytes" },
    { name: "operation", type: "uint8" },
    { name: "safeTxGas", type: "uint256" },
    { name: "baseGas", type: "uint256" },
    { name: "gasPrice", type: "uint256" },
    { name: "gasToken", type: "address" },
    { name: "refundReceiver", type: "address" },
    { name: "nonce", type: "uint256" },
  ],
} as const;

/** A plain call from the Safe, paying no refund. */
export function safeCall(to: Address, data: Hex, nonce: bigint): SafeTransaction {
  return {
    to,
    value: "0",
    data,
    operation: 0,
    safeTxGas: "0",
    baseGas: "0",
    gasPrice: "0",
    gasToken: zeroAddress,
    refundReceiver: zeroAddress,
    nonce: nonce.toString(),
  };
}

export function safeTypedData(safe: Address, chainId: number, tx: SafeTransaction) {
  return {
    domain: { chainId, verifyingContract: safe },
    types: SAFE_TX_TYPES,
    primaryType: "SafeTx" as const,
    message: {
      ...tx,
      value: BigInt(tx.value),
      safeTxGas: BigInt(tx.safeTxGas),
      baseGas: BigInt(tx.baseGas),
      gasPrice: BigInt(tx.gasPrice),
      nonce: BigInt(tx.nonce),
    },
  };
}

export function safeTransactionHash(pending: PendingSafeTransaction): Hex {
  return hashTypedData(safeTypedData(pending.safe, pending.chainId, pending.transaction));
}

/** The Safe wants signatures ordered by owner address, ascending, each 65 bytes. */
export function packSignatures(signatures: Record<Address, Hex>): Hex {
  const sorted = Object.entries(signatures).sort(([a], [b]) => (BigInt(a) < BigInt(b) ? -1 : 1));
  return sorted.length === 0 ? "0x" : concat(sorted.map(([, signature]) => signature));
}

const KEY = (safe: Address) => `dao-ai.safe-tx.${safe.toLowerCase()}`;

/** Where a pending transaction waits between owners' visits (this browser), until it is shared or executed. */
export function loadPending(safe: Address): PendingSafeTransaction | null {
  try {
    const text = localStorage.getItem(KEY(safe));
    return text ? (JSON.parse(text) as PendingSafeTransaction) : null;
  } catch {
    return null;
  }
}

export function savePending(pending: PendingSafeTransaction | null, safe: Address) {
  if (pending) localStorage.setItem(KEY(safe), JSON.stringify(pending));
  else localStorage.removeItem(KEY(safe));
}
