import {
  createPublicClient,
  createTestClient,
  createWalletClient,
  http,
  type Account,
  type Chain,
  type PublicClient,
  type TestClient,
} from "viem";
import { anvil } from "viem/chains";
import type { Wallet } from "../actors/createGovernanceDriver.ts";
import { devAccount } from "./devAccounts.ts";
import { LOCAL_CHAIN_ID } from "./stackServices.ts";

/** Clients for the local chain: reading, development-only calls (mine, move time), and one wallet per development account. */
export function localChainClients(rpcUrl: string) {
  const chain: Chain = { ...anvil, id: LOCAL_CHAIN_ID, rpcUrls: { default: { http: [rpcUrl] } } };
  const transport = http(rpcUrl);
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 100, cacheTime: 0 }) as PublicClient;
  const testClient = createTestClient({ chain, transport, mode: "anvil" }) as unknown as TestClient;
  const wallets = new Map<number, Wallet>();
  const wallet = (index: number): Wallet => {
    let w = wallets.get(index);
    if (!w) {
      w = createWalletClient({ chain, transport, account: devAccount(index) });
      wallets.set(index, w);
    }
    return w;
  };
  /** A wallet for any other account (one made up for the occasion, say). */
  const walletOf = (account: Account): Wallet => createWalletClient({ chain, transport, account });
  return { chain, publicClient, testClient, wallet, walletOf };
}

export type LocalChainClients = ReturnType<typeof localChainClients>;

/**
 * Anvil restores blocks and state from its dump but not the offset that `evm_increaseTime` added,
 * so after a restart its next block could be older than the last one. Setting its clock to just
 * after the last block keeps time moving forwards, as contracts (timelock, epochs) assume.
 */
export async function keepChainTimeMonotonic(clients: LocalChainClients): Promise<void> {
  const latest = await clients.publicClient.getBlock();
  const now = BigInt(Math.floor(Date.now() / 1000));
  if (latest.timestamp >= now) {
    await clients.publicClient.request({
      method: "evm_setTime" as never,
      params: [Number(latest.timestamp + 1n)] as never,
    });
  }
}
