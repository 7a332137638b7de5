import { readFileSync } from "node:fs";
import { getAddress, type Address } from "viem";
import { z } from "zod";
import { WorkerError } from "../internal/WorkerError.ts";

/** What the notifier follows: the Governor's and the registry's events, from the deployment block on. */
export type NotifierDeployment = {
  chainId: number;
  governor: Address;
  policyRegistry: Address;
  deploymentBlock: bigint;
};

const addressField = z.string().regex(/^0x[0-9a-fA-F]{40}$/, { error: "must be an address" });
const manifestSchema = z.object({
  chainId: z.number().int().positive(),
  deploymentBlock: z.string().regex(/^\d+$/, { error: "must be a decimal block number" }),
  contracts: z.object({ governor: addressField, policyRegistry: addressField }),
});

/** Reads the deployment manifest the deploy script wrote (`deployments/<chainId>.json`), as the worker does. */
export function readNotifierDeployment(file: string): NotifierDeployment {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (cause) {
    throw new WorkerError("CONFIG_INVALID", `Cannot read the deployment manifest ${file}.`, {
      cause,
      hints: ["Set NOTIFIER_DEPLOYMENT_MANIFEST to the file the deploy script wrote, e.g. deployments/31337.json."],
    });
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
    throw new WorkerError("CONFIG_INVALID", `The deployment manifest ${file} lacks what the notifier needs.`, {
      hints: [...problems, "Use the manifest written by `npm run deploy` for this chain."],
      extra: { problems },
    });
  }
  return {
    chainId: parsed.data.chainId,
    governor: getAddress(parsed.data.contracts.governor),
    policyRegistry: getAddress(parsed.data.contracts.policyRegistry),
    deploymentBlock: BigInt(parsed.data.deploymentBlock),
  };
}
