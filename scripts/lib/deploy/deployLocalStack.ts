import { existsSync } from "node:fs";
import { parseEther } from "viem";
import { deployMulticall3 } from "./deployMulticall3.ts";
import { deploySafe, type SafeDeployment } from "./deploySafe.ts";
import { deploySystem, type Deployment } from "./deploySystem.ts";
import { DEV_ROLES, devAddress } from "../stack/devAccounts.ts";
import type { LocalChainClients } from "../stack/localChain.ts";
import { readManifest, writeManifest } from "./manifest.ts";
import { readJson, writeJson, type ChainRecord, type StackPaths } from "../stack/stackFiles.ts";

/** The token holders' allocations at genesis (the rest of the supply goes to the treasury). */
export const HOLDER_ALLOCATIONS = [parseEther("400000"), parseEther("250000"), parseEther("100000")] as const;

/**
 * The local stack's settings: short enough that a demo walks through a vote, a timelock and an
 * epoch in seconds (the chain's clock is moved forwards), long enough to be realistic in kind.
 */
export const LOCAL_SETTINGS = { timelockMinDelay: 60n, epochLength: 3600n, revealDelay: 600n };

export type FoundDeployment =
  | { status: "found"; deployment: Deployment; safe: SafeDeployment }
  | { status: "new" }
  | { status: "reset"; reason: string };

/**
 * Whether the data directory's deployment is on the chain that is running: the chain must be the
 * one it was deployed on (the deployment's last block is there, with the same hash) and still hold the contracts. A chain whose state
 * file was deleted or could not be loaded starts again from block 0, and is told apart here.
 */
export async function findLocalDeployment(paths: StackPaths, clients: LocalChainClients): Promise<FoundDeployment> {
  const record = readJson<ChainRecord>(paths.chainRecord);
  if (!record) return { status: "new" };
  const chainId = await clients.publicClient.getChainId();
  const block = await clients.publicClient
    .getBlock({ blockNumber: BigInt(record.block.number) })
    .catch(() => undefined);
  if (record.chainId !== chainId || block?.hash !== record.block.hash) {
    return {
      status: "reset",
      reason: `${block ? `block ${record.block.number} is not the one` : `the chain has no block ${record.block.number}, where`} the deployment was made (the chain state in ${paths.chainState} was lost or replaced)`,
    };
  }
  const manifestFile = paths.manifest(chainId);
  const safe = readJson<SafeDeployment>(paths.safe);
  if (!existsSync(manifestFile) || !safe) {
    return { status: "reset", reason: `the deployment files under ${paths.root} are missing` };
  }
  const deployment = readManifest(manifestFile);
  for (const [name, address] of [...Object.entries(deployment.contracts), ["guardian Safe", safe.address]]) {
    const code = await clients.publicClient.getCode({ address: address as `0x${string}` });
    if (!code || code === "0x") {
      return { status: "reset", reason: `${name} has no code at ${address} on the chain` };
    }
  }
  return { status: "found", deployment, safe };
}

/**
 * Deploys the whole local stack on a fresh chain: Multicall3, the Safe contracts and a 2-of-3 guardian Safe
 * (owned by three development accounts), then the system with that Safe as its guardian, through
 * the one deploy module. Writes the manifest, the Safe's description and the chain record.
 */
export async function deployLocalStack(
  paths: StackPaths,
  clients: LocalChainClients,
  rpcUrl: string,
  onProgress: (message: string) => void,
): Promise<{ deployment: Deployment; safe: SafeDeployment }> {
  const { publicClient } = clients;
  const deployer = clients.wallet(DEV_ROLES.deployer);
  // Public chains have Multicall3; the local one gets it too, so the UI batches its reads here as well.
  const multicall3 = await deployMulticall3(publicClient);
  onProgress(`Multicall3 at ${multicall3.address}`);
  const safe = await deploySafe({
    provider: rpcUrl,
    publicClient,
    walletClient: deployer,
    owners: DEV_ROLES.guardianOwners.map(devAddress),
    threshold: 2,
    deployContracts: true,
    onProgress,
  });
  writeJson(paths.safe, safe);
  const deployment = await deploySystem({
    publicClient,
    walletClient: deployer,
    guardian: safe.address,
    allocations: DEV_ROLES.holders.map((index, i) => ({ to: devAddress(index), amount: HOLDER_ALLOCATIONS[i]! })),
    ...LOCAL_SETTINGS,
    onProgress,
  });
  writeManifest(deployment, paths.manifest(deployment.chainId));
  const last = await publicClient.getBlock();
  const record: ChainRecord = {
    chainId: deployment.chainId,
    block: { number: last.number.toString(), hash: last.hash },
  };
  writeJson(paths.chainRecord, record);
  return { deployment, safe };
}
