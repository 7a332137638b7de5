import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { keccak256, type Hex, type PublicClient } from "viem";
import { mainnet } from "viem/chains";

/** Multicall3's address on every chain that has it (deployed there by one presigned transaction). */
export const MULTICALL3_ADDRESS = mainnet.contracts.multicall3.address;

/**
 * Puts Multicall3 at its canonical address on a local chain (Anvil or Hardhat/EDR), where every
 * public chain already has it, so that the UI batches its reads there as it does on any chain.
 * The code is the Multicall3 build viem ships for its deployless calls (the same contract as the
 * public deployments, compiled without the optimizer): its creation code runs once in an
 * `eth_call` to give the runtime code, which `hardhat_setCode` (Anvil answers it too) places.
 * Idempotent.
 */
export async function deployMulticall3(publicClient: PublicClient): Promise<{ address: Hex; codeHash: Hex }> {
  const existing = await publicClient.getCode({ address: MULTICALL3_ADDRESS });
  if (existing && existing !== "0x") return { address: MULTICALL3_ADDRESS, codeHash: keccak256(existing) };
  const { data: runtime } = await publicClient.call({ data: await multicall3CreationCode() });
  if (!runtime) throw new Error("Multicall3's creation code returned no runtime code.");
  await publicClient.request({ method: "hardhat_setCode" as never, params: [MULTICALL3_ADDRESS, runtime] as never });
  return { address: MULTICALL3_ADDRESS, codeHash: keccak256(runtime) };
}

/** viem keeps the bytecode in a module its package does not export, so it is loaded by its file. */
async function multicall3CreationCode(): Promise<Hex> {
  const viemRoot = path.dirname(createRequire(import.meta.url).resolve("viem/package.json"));
  const module = (await import(pathToFileURL(path.join(viemRoot, "_esm/constants/contracts.js")).href)) as {
    multicall3Bytecode?: Hex;
  };
  if (!module.multicall3Bytecode) {
    throw new Error(`viem at ${viemRoot} no longer ships multicall3Bytecode in _esm/constants/contracts.js.`);
  }
  return module.multicall3Bytecode;
}
