import { createPublicClient, http, type Chain, type PublicClient } from "viem";
import { mainnet } from "viem/chains";
import { absoluteUrl } from "./loadRuntimeConfig.ts";
import type { RuntimeConfig } from "./RuntimeConfig.ts";

export type ChainClients = { chain: Chain; publicClient: PublicClient; rpcUrl: string };

/**
 * Multicall3's address on every chain that has it (deployed there by one presigned transaction);
 * the local stack puts it there too (scripts/lib/deploy/deployMulticall3.ts).
 */
const MULTICALL3_ADDRESS = mainnet.contracts.multicall3.address;

/**
 * The chain as viem needs it, and one public client shared by every read. Reads made together
 * (each page reads at every new block) go out as one Multicall3 `aggregate3` call where the chain
 * has Multicall3, and the requests that remain travel in JSON-RPC batches. A chain without it
 * (checked once, here) gets the same reads one `eth_call` each.
 */
export async function createChainClients(config: RuntimeConfig): Promise<ChainClients> {
  const rpcUrl = absoluteUrl(config.rpcUrl);
  const transport = http(rpcUrl, { batch: { wait: 5 }, retryCount: 1 });
  const bare: Chain = {
    id: config.chainId,
    name: config.chainName,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  };
  const code = await createPublicClient({ chain: bare, transport })
    .getCode({ address: MULTICALL3_ADDRESS })
    .catch(() => undefined);
  const multicall = code !== undefined && code !== "0x";
  const chain: Chain = multicall ? { ...bare, contracts: { multicall3: { address: MULTICALL3_ADDRESS } } } : bare;
  const publicClient = createPublicClient({
    chain,
    transport,
    // Everything a block's refresh reads fits in a few aggregate3 calls (8 KiB of calldata each).
    batch: multicall ? { multicall: { wait: 10, batchSize: 8_192 } } : undefined,
    pollingInterval: 1_000,
  }) as PublicClient;
  return { chain, publicClient, rpcUrl };
}
