import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Abi, Hex } from "viem";

/** The repository root, found from this file so scripts work from any working directory. */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

/**
 * Every contract the system deploys, with where Hardhat writes its artifact. EAS and the
 * TimelockController are compiled from their npm packages (see `npmFilesToBuild`), so the code
 * deployed is exactly the packages' code.
 */
export const CONTRACT_SOURCES = {
  SchemaRegistry: "@ethereum-attestation-service/eas-contracts/contracts/SchemaRegistry.sol",
  EAS: "@ethereum-attestation-service/eas-contracts/contracts/EAS.sol",
  TimelockController: "@openzeppelin/contracts/governance/TimelockController.sol",
  GovernanceToken: "contracts/governance/GovernanceToken.sol",
  PolicyGovernor: "contracts/governance/PolicyGovernor.sol",
  PolicyRegistry: "contracts/policy/PolicyRegistry.sol",
  ContributorRewards: "contracts/rewards/ContributorRewards.sol",
  UsageSettlement: "contracts/rewards/UsageSettlement.sol",
  ModelCommitments: "contracts/models/ModelCommitments.sol",
  RunRewards: "contracts/rewards/RunRewards.sol",
} as const;

export type ContractName = keyof typeof CONTRACT_SOURCES;

export type ContractArtifact = { contractName: string; abi: Abi; bytecode: Hex };

/** Reads a compiled artifact; run `npm run build` first. */
export function readArtifact(name: ContractName): ContractArtifact {
  const path = join(repoRoot, "artifacts", CONTRACT_SOURCES[name], `${name}.json`);
  try {
    return JSON.parse(readFileSync(path, "utf8")) as ContractArtifact;
  } catch (cause) {
    throw new BaseError(`No compiled artifact for ${name} at ${path}.`, {
      cause,
      hints: ["Run `npm run build` first."],
    });
  }
}
