// Multicall3 on the local chains: the UI batches a block's reads through it, as on public chains.
import { network } from "hardhat";
import { createPublicClient, custom, parseEther, type PublicClient } from "viem";
import { describe, expect, test } from "vitest";
import { deployMulticall3, MULTICALL3_ADDRESS } from "../../scripts/lib/deploy/deployMulticall3.ts";

describe("deployMulticall3", () => {
  test("places Multicall3 at its canonical address on Hardhat's chain, once, and viem batches reads through it", async () => {
    const { provider } = await network.create();
    const methods: string[] = [];
    const transport = custom({
      request: (request: { method: string; params?: unknown }) => {
        methods.push(request.method);
        return provider.request(request as never);
      },
    });
    const bare = createPublicClient({ transport }) as PublicClient;
    const first = await deployMulticall3(bare);
    const again = await deployMulticall3(bare);
    expect(first.address).toBe(MULTICALL3_ADDRESS);
    expect(again.codeHash).toBe(first.codeHash);

    const chainId = await bare.getChainId();
    const client = createPublicClient({
      chain: {
        id: chainId,
        name: "Hardhat",
        nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
        rpcUrls: { default: { http: [] } },
        contracts: { multicall3: { address: MULTICALL3_ADDRESS } },
      },
      transport,
      batch: { multicall: true },
    });
    const [rich, poor] = [
      "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
      "0x000000000000000000000000000000000000dEaD",
    ] as const;
    methods.length = 0;
    // Two balance reads made together go out as one eth_call to aggregate3.
    const balances = await Promise.all(
      [rich, poor].map((account) =>
        client.readContract({
          address: MULTICALL3_ADDRESS,
          abi: [
            {
              type: "function",
              name: "getEthBalance",
              stateMutability: "view",
              inputs: [{ name: "addr", type: "address" }],
              outputs: [{ name: "balance", type: "uint256" }],
            },
          ],
          functionName: "getEthBalance",
          args: [account],
        }),
      ),
    );
    expect(balances[0]).toBeGreaterThan(parseEther("1000"));
    expect(balances[1]).toBe(0n);
    expect(methods).toEqual(["eth_call"]);
  });
});
