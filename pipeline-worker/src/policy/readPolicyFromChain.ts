import { getAddress, getContract, zeroAddress, type Address, type Hex, type PublicClient } from "viem";
import { policyRegistryAbi } from "../abis.ts";
import type { EpochSchedule, Policy, Tier, TierMembership, TrainingRun } from "./Policy.ts";

export type ReadPolicyFromChainParameters = {
  client: PublicClient;
  registry: Address;
  /** The block to read at; the node must still hold that block's state. */
  blockNumber: bigint;
  /**
   * The registry's mappings cannot be enumerated on chain, so the caller names the accounts to
   * look up as submitters, consumers (voted quotas and tier memberships) and workers, and the
   * training runs to look up. Tiers are numbered, so all of them are read.
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
  const { read } = getContract({ address: registry, abi: policyRegistryAbi, client });
  const at = { blockNumber };

  const [policyVersion, requirement, feePerQuery, committee, revealDelay, guardian, killSwitch, tierCount] =
    await Promise.all([
      read.policyVersion(at),
      read.attestationRequirement(at),
      read.feePerQuery(at),
      read.committee(at),
      read.revealDelay(at),
      read.guardian(at),
      read.killSwitch(at),
      read.tierCount(at),
    ]);
  const tiers = await Promise.all(
    Array.from({ length: tierCount }, async (_, tierId): Promise<[number, Tier]> => {
      const tier = await read.tier([tierId], at);
      return [
        tierId,
        {
          queriesPerEpoch: tier.queriesPerEpoch,
          pricePerEpoch: tier.pricePerEpoch,
          open: tier.open,
          maxMembers: tier.maxMembers,
        },
      ];
    }),
  );
  const perAccount = await Promise.all(
    accounts.map(async (account) => {
      const [submitter, quota, worker, [tierId, fromEpoch, untilEpoch]] = await Promise.all([
        read.isSubmitter([account], at),
        read.quotaOf([account], at),
        read.isWorker([account], at),
        read.membershipOf([account], at),
      ]);
      const membership: TierMembership = { tierId, fromEpoch, untilEpoch };
      return { account, submitter, quota, worker, membership };
    }),
  );
  const runs = await Promise.all(runIds.map(async (runId) => ({ runId, run: await read.trainingRun([runId], at) })));

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
    tiers: new Map(tiers),
    // An untilEpoch of 0 is how the registry says the account never joined a tier.
    memberships: new Map(
      perAccount.filter((entry) => entry.membership.untilEpoch > 0n).map((entry) => [entry.account, entry.membership]),
    ),
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
