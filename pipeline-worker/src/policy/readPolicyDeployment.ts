import { readFileSync } from "node:fs";
import { getAddress, type Address } from "viem";
import { z } from "zod";
import { WorkerError } from "../internal/WorkerError.ts";

/** What the policy sync needs to know about a deployment. */
export type PolicyDeployment = {
  chainId: number;
  policyRegistry: Address;
  /** No registry event can be older than this block: the sync starts here. */
  deploymentBlock: bigint;
  /** The guardian and reveal delay the registry was constructed with (its constructor emits no events). */
  guardian: Address;
  revealDelay: bigint;
};

const manifestSchema = z.object({
  chainId: z.number().int().positive(),
  deploymentBlock: z.string().regex(/^\d+$/, { error: "must be a decimal block number" }),
  contracts: z.object({ policyRegistry: z.string().regex(/^0x[0-9a-fA-F]{40}$/, { error: "must be an address" }) }),
  guardian: z.string().regex(/^0x[0-9a-fA-F]{40}$/, { error: "must be an address" }),
  settings: z.object({ revealDelay: z.string().regex(/^\d+$/, { error: "must be a decimal number of seconds" }) }),
});

/**
 * Takes the policy sync's inputs from a deployment manifest (the JSON the deploy script writes to
 * `deployments/<chainId>.json`), given either as parsed JSON or as a file path.
 */
export function readPolicyDeployment(manifest: unknown): PolicyDeployment {
  const source = typeof manifest === "string" ? `The deployment manifest ${manifest}` : "The deployment manifest";
  let json: unknown = manifest;
  if (typeof manifest === "string") {
    try {
      json = JSON.parse(readFileSync(manifest, "utf8"));
    } catch (cause) {
      throw new WorkerError("CONFIG_INVALID", `Cannot read the deployment manifest ${manifest}.`, {
        cause,
        hints: ["Set deploymentManifest to the file the deploy script wrote, e.g. deployments/31337.json."],
      });
    }
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
    throw new WorkerError("CONFIG_INVALID", `${source} lacks what the policy sync needs.`, {
      hints: [...problems, "Use the manifest written by `npm run deploy` for this chain."],
      extra: { problems },
    });
  }
  return {
    chainId: parsed.data.chainId,
    policyRegistry: getAddress(parsed.data.contracts.policyRegistry),
    deploymentBlock: BigInt(parsed.data.deploymentBlock),
    guardian: getAddress(parsed.data.guardian),
    revealDelay: BigInt(parsed.data.settings.revealDelay),
  };
}
