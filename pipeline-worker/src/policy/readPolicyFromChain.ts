import { getAddress, zeroAddress, type Address, type Hex, type PublicClient, type ReadContractReturnType } from "viem";
import { policyRegistryAbi } from "../abis.ts";
import type { EpochSchedule, Policy, TrainingRun } from "./Policy.ts";

export type ReadPolicyFromChainParameters = {
  client: PublicClient;
  registry: Address;
  /** The block to read at; the node must still hold that block's state. */
  blockNumber: bigint;
  /**
   * The registry's mappings cannot be enumerated on chain, so the caller names the accounts to
   * look up as submitters, consumers and workers, and the training runs to look up.
   */
  accounts?: readonly Address[];
  runIds?: readonly Hex[];
};

/**
 * Reads the policy from the registry's views at one block, independently of its events. The sync
 * uses it to check its event-derived policy against the chain; tests use it to prove the reducer
 * matches the contract. Only the named accounts and runs appear in the sets and maps.
 */
export async function readPolicyFromChain(parameters: ReadPolicyFromChainParameters): Promise<Policy> {
  const { client, registry, blockNumber } = parameters;
  const accounts = [...new Set((parameters.accounts ?? []).map((account) => getAddress(account)))];
  const runIds = [...new Set((parameters.runIds ?? []).map((runId) => runId.toLowerCase() as Hex))];
  const read = <const name extends ViewName>(functionName: name, args: readonly unknown[] = []) =>
    client.readContract({
      address: registry,
      abi: policyRegistryAbi,
      functionName,
      args,
      blockNumber,
    } as never) as Promise<ViewResult<name>>;

  const [policyVersion, requirement, feePerQuery, committee, revealDelay, guardian, killSwitch] = await Promise.all([
    read("policyVersion"),
    read("attestationRequirement"),
    read("feePerQuery"),
    read("committee"),
    read("revealDelay"),
    read("guardian"),
    read("killSwitch"),
  ]);
  const perAccount = await Promise.all(
    accounts.map(async (account) => {
      const [submitter, quota, worker] = await Promise.all([
        read("isSubmitter", [account]),
        read("quotaOf", [account]),
        read("isWorker", [account]),
      ]);
      return { account, submitter, quota, worker };
    }),
  );
  const runs = await Promise.all(runIds.map(async (runId) => ({ runId, run: await read("trainingRun", [runId]) })));

  const [committeeId, members, publicKeys, threshold] = committee;
  return {
    policyVersion,
    submitters: new Set(perAccount.filter((entry) => entry.submitter).map((entry) => entry.account)),
    attestation: {
      schemaUID: requirement.schemaUID,
      attesters: [...requirement.attesters],
      minAttestations: requirement.minAttestations,
      maxAge: requirement.maxAge,
    },
    quotas: new Map(perAccount.filter((entry) => entry.quota > 0n).map((entry) => [entry.account, entry.quota])),
    // Read from the registry's tier views once its ABI has them (issue 14).
    tiers: new Map(),
    memberships: new Map(),
    feePerQuery,
    committee: { id: committeeId, members: [...members], publicKeys: [...publicKeys], threshold },
    trainingRuns: new Map(
      runs
        // A zero operator is how the registry says a run does not exist.
        .filter(({ run }) => run.operator !== zeroAddress)
        .map(({ runId, run }): [Hex, TrainingRun] => [
          runId,
          { specHash: run.specHash, operator: run.operator, expiresAt: run.expiresAt, revoked: run.revoked },
        ]),
    ),
    workers: new Set(perAccount.filter((entry) => entry.worker).map((entry) => entry.account)),
    revealDelay,
    guardian,
    killSwitch: {
      engaged: killSwitch.engaged,
      engagementId: killSwitch.engagementId,
      engagedBy: killSwitch.engagedBy,
      engagedAt: killSwitch.engagedAt,
      reason: killSwitch.reason,
    },
  };
}

export type ReadEpochScheduleParameters = {
  client: PublicClient;
  registry: Address;
};

/** Reads the epoch length and genesis; both are immutable, so any block will do. */
export async function readEpochSchedule(parameters: ReadEpochScheduleParameters): Promise<EpochSchedule> {
  const { client, registry } = parameters;
  const [epochLength, epochGenesis] = await Promise.all([
    client.readContract({ address: registry, abi: policyRegistryAbi, functionName: "epochLength" }),
    client.readContract({ address: registry, abi: policyRegistryAbi, functionName: "epochGenesis" }),
  ]);
  return { epochLength, epochGenesis };
}

type RegistryFunction = Extract<(typeof policyRegistryAbi)[number], { type: "function" }>;
type ViewName = Extract<RegistryFunction, { stateMutability: "view" }>["name"];
type ViewResult<name extends ViewName> = ReadContractReturnType<typeof policyRegistryAbi, name>;
