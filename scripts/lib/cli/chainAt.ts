import { defineChain, type Chain } from "viem";

/** The chain a CLI talks to, known only by its id and RPC URL (a local node, a testnet, a fork). */
export function chainAt(chainId: number, rpcUrl: string): Chain {
  return defineChain({
    id: chainId,
    name: `chain ${chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
}
