import { getAbiItem, type AbiEvent, type Address, type Hex } from "viem";
import { policyGovernorAbi, policyRegistryAbi } from "./abis.ts";
import type { App } from "./AppContext.tsx";
import type { ChainHead } from "./ChainHead.tsx";
import type { CachedLog } from "./createLogCache.ts";

/** An access tier the DAO voted, with its members in the current epoch. */
export type Tier = {
  tierId: number;
  /** 0: removed (it grants nothing and takes no one). */
  queriesPerEpoch: bigint;
  /** Wei per epoch joined. */
  pricePerEpoch: bigint;
  /** Closed: no new members; members may still renew. */
  open: boolean;
  /** 0: no limit. */
  maxMembers: number;
  /** Members in the current epoch. */
  members: number;
};

export type TrainingRun = { runId: Hex; specHash: Hex; operator: Address; expiresAt: bigint; revoked: boolean };

/** One change of policy, as its event recorded it, with the proposal that made it (when one did). */
export type PolicyChange = {
  version: bigint;
  eventName: string;
  args: Record<string, unknown>;
  blockNumber: bigint;
  timestamp: bigint | undefined;
  transactionHash: Hex;
  /** The proposal whose execution made this change; undefined for the guardian's kill switch. */
  proposalId: bigint | undefined;
};

export type Policy = {
  version: bigint;
  timelock: Address;
  guardian: Address;
  feePerQuery: bigint;
  revealDelay: bigint;
  epochLength: bigint;
  epochGenesis: bigint;
  currentEpoch: bigint;
  currentEpochEnd: bigint;
  attestation: { schemaUID: Hex; attesters: readonly Address[]; minAttestations: number; maxAge: bigint };
  committee: { id: bigint; members: readonly Address[]; publicKeys: readonly Hex[]; threshold: number };
  /** `engagementId` numbers engagements from 1 (0 while off): a lift proposal must name it. */
  killSwitch: { engaged: boolean; engagementId: bigint; engagedBy: Address; engagedAt: bigint; reason: string };
  /** The registry's mappings are not enumerable: these sets are rebuilt from its events. */
  submitters: Address[];
  quotas: Map<Address, bigint>;
  /** Every tier ever set, by id (removed ones with 0 queries per epoch). */
  tiers: Tier[];
  workers: Address[];
  trainingRuns: TrainingRun[];
  /** Newest first. */
  history: PolicyChange[];
};

export const registryEvents = policyRegistryAbi.filter((item): item is Extract<typeof item, { type: "event" }> =>
  Boolean(item.type === "event"),
) as readonly AbiEvent[];

const proposalExecuted = getAbiItem({ abi: policyGovernorAbi, name: "ProposalExecuted" }) as AbiEvent;

/** The whole policy at `head`: the registry's views, plus what only its events can tell. */
export async function readPolicy(app: App, head: ChainHead): Promise<Policy> {
  const { publicClient, contracts, logCache } = app;
  const blockNumber = head.number;
  const registry = { address: contracts.policyRegistry, abi: policyRegistryAbi, blockNumber } as const;
  const [
    version,
    timelock,
    guardian,
    feePerQuery,
    revealDelay,
    epochLength,
    epochGenesis,
    currentEpoch,
    attestation,
    committee,
    killSwitch,
    tierCount,
    logs,
    executed,
  ] = await Promise.all([
    publicClient.readContract({ ...registry, functionName: "policyVersion" }),
    publicClient.readContract({ ...registry, functionName: "timelock" }),
    publicClient.readContract({ ...registry, functionName: "guardian" }),
    publicClient.readContract({ ...registry, functionName: "feePerQuery" }),
    publicClient.readContract({ ...registry, functionName: "revealDelay" }),
    publicClient.readContract({ ...registry, functionName: "epochLength" }),
    publicClient.readContract({ ...registry, functionName: "epochGenesis" }),
    publicClient.readContract({ ...registry, functionName: "currentEpoch" }),
    publicClient.readContract({ ...registry, functionName: "attestationRequirement" }),
    publicClient.readContract({ ...registry, functionName: "committee" }),
    publicClient.readContract({ ...registry, functionName: "killSwitch" }),
    publicClient.readContract({ ...registry, functionName: "tierCount" }),
    logCache.logs(contracts.policyRegistry, registryEvents, blockNumber),
    logCache.logs(contracts.governor, [proposalExecuted], blockNumber),
  ]);
  const [currentEpochEnd, tiers] = await Promise.all([
    publicClient.readContract({ ...registry, functionName: "epochEnd", args: [currentEpoch] }),
    readTiers(app, blockNumber, tierCount, currentEpoch),
  ]);

  const proposalByTx = new Map<string, bigint>();
  for (const log of executed) proposalByTx.set(log.transactionHash.toLowerCase(), log.args.proposalId as bigint);
  const times = await logCache.blockTimes(logs.map((l) => l.blockNumber));

  const reduced = reduceRegistryLogs(logs);
  const history = logs
    .map((log): PolicyChange => ({
      version: log.args.policyVersion as bigint,
      eventName: log.eventName,
      args: log.args,
      blockNumber: log.blockNumber,
      timestamp: times.get(log.blockNumber),
      transactionHash: log.transactionHash,
      proposalId: proposalByTx.get(log.transactionHash.toLowerCase()),
    }))
    .reverse();

  return {
    version,
    timelock,
    guardian,
    feePerQuery,
    revealDelay,
    epochLength,
    epochGenesis,
    currentEpoch,
    currentEpochEnd,
    attestation: {
      schemaUID: attestation.schemaUID,
      attesters: attestation.attesters,
      minAttestations: attestation.minAttestations,
      maxAge: attestation.maxAge,
    },
    committee: { id: committee[0], members: committee[1], publicKeys: committee[2], threshold: committee[3] },
    killSwitch,
    ...reduced,
    tiers,
    history,
  };
}

/**
 * The registry's tiers (numbered from 0 to `count - 1`, so readable from its views) and their
 * members in `epoch`, in one batch of reads with the others that need the first batch's answers.
 */
function readTiers(
  { publicClient, contracts }: App,
  blockNumber: bigint,
  count: number,
  epoch: bigint,
): Promise<Tier[]> {
  const registry = { address: contracts.policyRegistry, abi: policyRegistryAbi, blockNumber } as const;
  return Promise.all(
    Array.from({ length: count }, async (_, tierId): Promise<Tier> => {
      const [tier, members] = await Promise.all([
        publicClient.readContract({ ...registry, functionName: "tier", args: [tierId] }),
        publicClient.readContract({ ...registry, functionName: "tierMembers", args: [tierId, epoch] }),
      ]);
      return { tierId, ...tier, members };
    }),
  );
}

/** Rebuilds the registry's non-enumerable mappings from its events, in chain order. */
export function reduceRegistryLogs(logs: readonly CachedLog[]) {
  const submitters = new Set<Address>();
  const quotas = new Map<Address, bigint>();
  const workers = new Set<Address>();
  const runs = new Map<Hex, TrainingRun>();
  for (const { eventName, args } of logs) {
    switch (eventName) {
      case "SubmitterSet":
        toggle(submitters, args.submitter as Address, args.allowed as boolean);
        break;
      case "QuotaSet": {
        const consumer = args.consumer as Address;
        const quota = args.queriesPerEpoch as bigint;
        if (quota === 0n) quotas.delete(consumer);
        else quotas.set(consumer, quota);
        break;
      }
      case "WorkerSet": {
        // Removing a worker withdraws its runs for good, as the registry reads them from then on.
        const worker = args.worker as Address;
        if (!(args.authorised as boolean) && workers.has(worker)) {
          for (const run of runs.values()) if (run.operator === worker) run.revoked = true;
        }
        toggle(workers, worker, args.authorised as boolean);
        break;
      }
      case "TrainingRunApproved": {
        const runId = (args.runId as Hex).toLowerCase() as Hex;
        runs.set(runId, {
          runId,
          specHash: args.specHash as Hex,
          operator: args.operator as Address,
          expiresAt: args.expiresAt as bigint,
          revoked: false,
        });
        break;
      }
      case "TrainingRunRevoked": {
        const run = runs.get((args.runId as Hex).toLowerCase() as Hex);
        if (run) run.revoked = true;
        break;
      }
    }
  }
  return { submitters: [...submitters], quotas, workers: [...workers], trainingRuns: [...runs.values()] };
}

function toggle(set: Set<Address>, address: Address, on: boolean) {
  if (on) set.add(address);
  else set.delete(address);
}
