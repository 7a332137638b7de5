import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { readDeploymentManifest } from "@dao-ai/pipeline-worker/readDeploymentManifest";
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

/** The manifest in `path`, validated against its one schema (CONFIG_INVALID names the file and the field). */
export function readManifest(path: string): Deployment {
  return readDeploymentManifest(path);
}
