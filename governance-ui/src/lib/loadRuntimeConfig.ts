import { deploymentManifestProblems } from "@dao-ai/pipeline-worker/deployment";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import type { RuntimeConfig } from "./RuntimeConfig.ts";

/** Fetches `/config.json` and checks the parts the app relies on, so a bad config fails with one clear message. */
export async function loadRuntimeConfig(url = "/config.json"): Promise<RuntimeConfig> {
  let response: Response;
  try {
    response = await fetch(url, { cache: "no-store" });
  } catch (cause) {
    throw new BaseError(`Cannot load the app's configuration from ${url}.`, {
      cause,
      hints: ["Serve the app with its server (`node governance-ui/server/main.ts`), which provides /config.json."],
    });
  }
  if (!response.ok) {
    throw new BaseError(`The server answered ${response.status} for ${url}.`, {
      hints: ["Start the UI server with a deployment manifest: --manifest deployments/<chainId>.json."],
    });
  }
  const config = (await response.json()) as RuntimeConfig;
  const problems: string[] = [];
  if (!Number.isInteger(config.chainId)) problems.push("chainId is not a number");
  if (typeof config.rpcUrl !== "string" || config.rpcUrl === "") problems.push("rpcUrl is missing");
  problems.push(...deploymentManifestProblems(config.deployment).map((problem) => `deployment: ${problem}`));
  if (config.deployment?.chainId !== config.chainId) problems.push("the deployment is for another chain");
  if (problems.length > 0) {
    throw new BaseError("The app's configuration is invalid.", { hints: problems });
  }
  return config;
}

/** Resolves a URL from the config against the page, so `/rpc` works as well as `http://host:8545`. */
export function absoluteUrl(url: string): string {
  return new URL(url, window.location.href).toString().replace(/\/$/, "");
}
