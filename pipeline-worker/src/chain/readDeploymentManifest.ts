import { readFileSync } from "node:fs";
import { WorkerError } from "../internal/WorkerError.ts";
import { parseDeploymentManifest, type DeploymentManifest } from "./deploymentManifest.ts";

/**
 * Reads and validates the deployment manifest in `file` (deploymentManifest.ts has the schema),
 * for the services and the CLIs; exported as `@dao-ai/pipeline-worker/readDeploymentManifest`.
 * Throws CONFIG_INVALID naming the file, and the field when the JSON is not a manifest.
 */
export function readDeploymentManifest(file: string): DeploymentManifest {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (cause) {
    throw new WorkerError("CONFIG_INVALID", `Cannot read the deployment manifest ${file}.`, {
      cause,
      hints: [
        "Deploy first (`npm run deploy`), or point to the manifest the deployer gave you (deployments/<chainId>.json).",
      ],
    });
  }
  return parseDeploymentManifest(json, `The deployment manifest ${file}`);
}
