import { getAddress, type Address } from "viem";
import { parseDeploymentManifest } from "../chain/deploymentManifest.ts";
import { readDeploymentManifest } from "../chain/readDeploymentManifest.ts";

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

/**
 * Takes the policy sync's inputs from a deployment manifest (the JSON the deploy script writes to
 * `deployments/<chainId>.json`), given either as parsed JSON or as a file path; the whole manifest
 * is validated (chain/deploymentManifest.ts).
 */
export function readPolicyDeployment(manifest: unknown): PolicyDeployment {
  const deployment =
    typeof manifest === "string" ? readDeploymentManifest(manifest) : parseDeploymentManifest(manifest);
  return {
    chainId: deployment.chainId,
    policyRegistry: getAddress(deployment.contracts.policyRegistry),
    deploymentBlock: BigInt(deployment.deploymentBlock),
    guardian: getAddress(deployment.guardian),
    revealDelay: BigInt(deployment.settings.revealDelay),
  };
}
