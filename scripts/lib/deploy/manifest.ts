import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { repoRoot } from "./contractArtifacts.ts";
import type { Deployment } from "./deploySystem.ts";

/** Where a chain's deployment manifest lives: `deployments/<chainId>.json`. */
export function manifestPath(chainId: number, dir = join(repoRoot, "deployments")): string {
  return join(dir, `${chainId}.json`);
}

export function writeManifest(deployment: Deployment, path = manifestPath(deployment.chainId)): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(deployment, null, 2)}\n`);
  return path;
}

export function readManifest(path: string): Deployment {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Deployment;
  } catch (cause) {
    throw new BaseError(`Cannot read the deployment manifest ${path}.`, {
      cause,
      hints: ["Deploy first with `npm run deploy`, or point to the manifest the deployer gave you."],
    });
  }
}
