import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { BaseError } from "../../pipeline-worker/src/internal/BaseError.ts";
import type { Deployment, RuntimeConfig } from "../src/lib/RuntimeConfig.ts";

export type CreateRuntimeConfigParameters = {
  deployment: Deployment;
  /** What the browser uses for JSON-RPC: `/rpc` when the server proxies it. */
  rpcUrl?: string;
  /** What the browser uses for the worker: `/worker` when the server proxies it; null for none. */
  workerUrl?: string | null;
  devAccounts?: boolean;
  blockTimeSeconds?: number;
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
  };
}

export function readDeployment(file: string): Deployment {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Deployment;
  } catch (cause) {
    throw new BaseError(`Cannot read the deployment manifest ${file}.`, {
      cause,
      hints: ["Deploy first with `npm run deploy`, or pass the manifest the deployer gave you."],
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
  return createRuntimeConfig({ deployment: readDeployment(process.env.UI_MANIFEST ?? defaultManifestPath()) });
}
