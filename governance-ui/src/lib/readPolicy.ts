import { decodePolicyLog, type PolicyEvent } from "@dao-ai/pipeline-worker/decodePolicyLog";
import {
  createGenesisPolicy,
  type Policy as PolicyState,
  type Tier as PolicyTier,
} from "@dao-ai/pipeline-worker/Policy";
import { reducePolicy } from "@dao-ai/pipeline-worker/reducePolicy";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { getAbiItem, type AbiEvent, type Hex } from "viem";
import { policyGovernorAbi, policyRegistryAbi } from "./abis.ts";
import type { App } from "./AppContext.tsx";
import type { ChainHead } from "./ChainHead.tsx";

// Keeps each event's name paired with its own arguments, so that a check of the name narrows them.
type EventOf<E> = E extends PolicyEvent ? Pick<E, "eventName" | "args"> : never;

/** One change of policy, as its event recorded it, with the proposal that made it (when one did). */
export type PolicyChange = EventOf<PolicyEvent> & {
  version: bigint;
  blockNumber: bigint;
  timestamp: bigint | undefined;
  transactionHash: Hex;
  /** The proposal whose execution made this change; undefined for the guardian's kill switch. */
  proposalId: bigint | undefined;
};

/**
 * The policy as the worker follows it (the same reducer over the same events), plus what the app
 * shows around it: the epochs, each tier's members now, and the history of changes.
 */
export type Policy = PolicyState & {
  timelock: Hex;
  epochLength: bigint;
  epochGenesis: bigint;
  currentEpoch: bigint;
  currentEpochEnd: bigint;
  /** Members of each tier in the current epoch, by tier id. */
  tierMembers: ReadonlyMap<number, number>;
  /** Newest first. */
  history: PolicyChange[];
};

/** An access tier the DAO voted, with its id and its members in the current epoch. */
export type Tier = PolicyTier & { tierId: number; members: number };

/** Every tier ever set, in id order (removed ones with 0 queries per epoch). */
export function tierList(policy: Policy): Tier[] {
  return [...policy.tiers].map(([tierId, tier]) => ({ ...tier, tierId, members: policy.tierMembers.get(tierId) ?? 0 }));
}

export const registryEvents = policyRegistryAbi.filter((item): item is Extract<typeof item, { type: "event" }> =>
  Boolean(item.type === "event"),
) as readonly AbiEvent[];

const proposalExecuted = getAbiItem({ abi: policyGovernorAbi, name: "ProposalExecuted" }) as AbiEvent;

/**
 * The whole policy at `head`: the registry's events reduced by the worker's own `reducePolicy`, so
 * the app shows exactly the policy the worker enforces, checked against the registry's version.
 */
export async function readPolicy(
  app: Pick<App, "publicClient" | "contracts" | "logCache">,
  head: Pick<ChainHead, "number">,
): Promise<Policy> {
  const { publicClient, contracts, logCache } = app;
  const blockNumber = head.number;
  const registry = { address: contracts.policyRegistry, abi: policyRegistryAbi, blockNumber } as const;
  const [version, timelock, guardian, revealDelay, epochLength, epochGenesis, currentEpoch, logs, executed] =
    await Promise.all([
      publicClient.readContract({ ...registry, functionName: "policyVersion" }),
      publicClient.readContract({ ...registry, functionName: "timelock" }),
      publicClient.readContract({ ...registry, functionName: "guardian" }),
      publicClient.readContract({ ...registry, functionName: "revealDelay" }),
      publicClient.readContract({ ...registry, functionName: "epochLength" }),
      publicClient.readContract({ ...registry, functionName: "epochGenesis" }),
      publicClient.readContract({ ...registry, functionName: "currentEpoch" }),
      logCache.logs(contracts.policyRegistry, registryEvents, blockNumber),
      logCache.logs(contracts.governor, [proposalExecuted], blockNumber),
    ]);
  const times = await logCache.blockTimes(logs.map((l) => l.blockNumber));
  const events = logs.map((log) => decodePolicyLog({ ...log, blockTimestamp: times.get(log.blockNumber) }));
  // The constructor emits no event: the guardian and reveal delay it set are the views' values
  // unless an event changed them, and then the reducer takes the event's.
  const state = reducePolicy(createGenesisPolicy({ guardian, revealDelay }), events);
  if (state.policyVersion !== version) {
    throw new BaseError(
      `The chain's node returned the registry's events up to policy version ${state.policyVersion}, but the registry is at version ${version}.`,
      { hints: ["Reload the page; if this repeats, the node is dropping logs: point the app at another RPC node."] },
    );
  }

  const [currentEpochEnd, tierMembers] = await Promise.all([
    publicClient.readContract({ ...registry, functionName: "epochEnd", args: [currentEpoch] }),
    Promise.all(
      [...state.tiers.keys()].map(
        async (tierId) =>
          [
            tierId,
            await publicClient.readContract({ ...registry, functionName: "tierMembers", args: [tierId, currentEpoch] }),
          ] as const,
      ),
    ),
  ]);

  const proposalByTx = new Map<string, bigint>();
  for (const log of executed) proposalByTx.set(log.transactionHash.toLowerCase(), log.args.proposalId as bigint);
  const history = events
    .map((event): PolicyChange => ({
      ...(event as EventOf<PolicyEvent>),
      version: event.args.policyVersion,
      blockNumber: event.blockNumber,
      timestamp: event.blockTimestamp,
      transactionHash: event.transactionHash,
      proposalId: proposalByTx.get(event.transactionHash.toLowerCase()),
    }))
    .reverse();

  return {
    ...state,
    timelock,
    epochLength,
    epochGenesis,
    currentEpoch,
    currentEpochEnd,
    tierMembers: new Map(tierMembers),
    history,
  };
}
