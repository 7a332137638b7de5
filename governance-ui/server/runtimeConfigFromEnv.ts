import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { readDeploymentManifest } from "@dao-ai/pipeline-worker/readDeploymentManifest";
import { safeContractsSchema, type SafeContracts } from "@dao-ai/pipeline-worker/safe";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import type { Deployment, RuntimeConfig } from "../src/lib/RuntimeConfig.ts";

export type CreateRuntimeConfigParameters = {
  deployment: Deployment;
  /** What the browser uses for JSON-RPC: `/rpc` when the server proxies it. */
  rpcUrl?: string;
  /** What the browser uses for the worker: `/worker` when the server proxies it; null for none. */
  workerUrl?: string | null;
  devAccounts?: boolean;
  blockTimeSeconds?: number;
  /** The chain's Safe contracts, where they are not the canonical ones (a local chain). */
  safeContracts?: SafeContracts | undefined;
};

/** The `/config.json` the app loads at start. */
export function createRuntimeConfig(parameters: CreateRuntimeConfigParameters): RuntimeConfig {
  const { deployment } = parameters;
  return {
    chainId: deployment.chainId,
    chainName: deployment.chainId === 31337 ? "Local chain" : `Chain ${deployment.chainId}`,
    rpcUrl: parameters.rpcUrl ?? "/rpc",
    workerUrl: parameters.workerUrl === undefined ? "/worker" : parameters.workerUrl,
    deployment,
    devAccounts: parameters.devAccounts ?? deployment.chainId === 31337,
    ...(parameters.blockTimeSeconds !== undefined ? { blockTimeSeconds: parameters.blockTimeSeconds } : {}),
    ...(parameters.safeContracts ? { safeContracts: parameters.safeContracts } : {}),
  };
}

/**
 * The chain's Safe contracts as the deploy left them next to the manifest: `<manifest>.guardian-safe.json`
 * (npm run deploy) or `guardian-safe.json` (npm start), holding a Safe's description with its
 * contracts, or the contracts alone. Undefined when there is none: the canonical deployment.
 */
export function readSafeContracts(manifest: string, file?: string): SafeContracts | undefined {
  const candidates = file
    ? [file]
    : [manifest.replace(/\.json$/, ".guardian-safe.json"), path.join(path.dirname(manifest), "guardian-safe.json")];
  const found = candidates.find((candidate) => existsSync(candidate));
  if (!found) return undefined;
  try {
    const described = JSON.parse(readFileSync(found, "utf8")) as { contracts?: unknown };
    const contracts =
      described && typeof described === "object" && "contracts" in described ? described.contracts : described;
    return contracts === undefined ? undefined : safeContractsSchema.parse(contracts);
  } catch (cause) {
    throw new BaseError(`Cannot read the Safe contracts in ${found}.`, {
      cause,
      hints: [
        "It is the guardian-safe.json the deploy wrote: a Safe's description with its contracts, or the contracts alone.",
      ],
    });
  }
}

/** The local chain's manifest: where `npm run deploy` writes it, else where `npm start` keeps it. */
export function defaultManifestPath(): string {
  const root = path.resolve(import.meta.dirname, "../..");
  const candidates = [path.join(root, "deployments/31337.json"), path.join(root, ".data/deployments/31337.json")];
  return candidates.find((file) => existsSync(file)) ?? candidates[0]!;
}

/** For Vite's dev and preview servers: the manifest from UI_MANIFEST, else the local chain's. */
export function runtimeConfigFromEnv(): RuntimeConfig {
  const manifest = process.env.UI_MANIFEST ?? defaultManifestPath();
  return createRuntimeConfig({
    deployment: readDeploymentManifest(manifest),
    safeContracts: readSafeContracts(manifest),
  });
}
