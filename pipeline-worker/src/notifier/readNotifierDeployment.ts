import { getAddress, type Address } from "viem";
import { readDeploymentManifest } from "../chain/readDeploymentManifest.ts";

/** What the notifier follows: the Governor's and the registry's events, from the deployment block on. */
export type NotifierDeployment = {
  chainId: number;
  governor: Address;
  policyRegistry: Address;
  deploymentBlock: bigint;
};

/** Reads the deployment manifest the deploy script wrote (`deployments/<chainId>.json`), as the worker does. */
export function readNotifierDeployment(file: string): NotifierDeployment {
  const deployment = readDeploymentManifest(file);
  return {
    chainId: deployment.chainId,
    governor: getAddress(deployment.contracts.governor),
    policyRegistry: getAddress(deployment.contracts.policyRegistry),
    deploymentBlock: BigInt(deployment.deploymentBlock),
  };
}
