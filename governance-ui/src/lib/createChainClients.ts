import { createPublicClient, http, type Chain, type PublicClient } from "viem";
import { absoluteUrl } from "./loadRuntimeConfig.ts";
import type { RuntimeConfig } from "./RuntimeConfig.ts";

export type ChainClients = { chain: Chain; publicClient: PublicClient; rpcUrl: string };

/** The chain as viem needs it, and one public client shared by every read (JSON-RPC batched). */
export function createChainClients(config: RuntimeConfig): ChainClients {
  const rpcUrl = absoluteUrl(config.rpcUrl);
  const chain: Chain = {
    id: config.chainId,
    name: config.chainName,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  };
  const publicClient = createPublicClient({
    chain,
    transport: http(rpcUrl, { batch: { wait: 5 }, retryCount: 1 }),
    pollingInterval: 1_000,
  }) as PublicClient;
  return { chain, publicClient, rpcUrl };
}
