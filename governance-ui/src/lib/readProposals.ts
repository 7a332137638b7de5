import { getAbiItem, type AbiEvent, type Address, type Hex } from "viem";
import { policyGovernorAbi } from "./abis.ts";
import type { App } from "./AppContext.tsx";
import type { ChainHead } from "./ChainHead.tsx";

/** The Governor's ProposalState enum, in order. */
export const PROPOSAL_STATES = [
  "pending",
  "active",
  "canceled",
  "defeated",
  "succeeded",
  "queued",
  "expired",
  "executed",
] as const;
export type ProposalState = (typeof PROPOSAL_STATES)[number];

export type Proposal = {
  id: bigint;
  /** Position in the Governor's storage, from 0. */
  index: number;
  proposer: Address;
  targets: readonly Address[];
  values: readonly bigint[];
  calldatas: readonly Hex[];
  descriptionHash: Hex;
  /**
   * Whether it only changes guardian roles (replaces the guardian, lifts the kill switch): then
   * the proposal guardian cannot cancel it, so the DAO can always replace its guardian.
   */
  guardianRoleChange: boolean;
  description: string;
  title: string;
  state: ProposalState;
  /** The block whose voting power counts; the vote opens after it. */
  snapshot: bigint;
  /** The last block of the vote (extended when quorum is reached late). */
  deadline: bigint;
  /** When a queued proposal may be executed (seconds); 0 when not queued. */
  eta: bigint;
  votes: { against: bigint; for: bigint; abstain: bigint };
  /** The quorum at the snapshot (estimated at the last block while the snapshot is in the future). */
  quorum: bigint;
  quorumIsEstimate: boolean;
  createdBlock: bigint | undefined;
  createdAt: bigint | undefined;
  /** When it was queued, executed or canceled, from the Governor's events. */
  milestones: { event: "queued" | "executed" | "canceled"; blockNumber: bigint; timestamp: bigint | undefined }[];
};

const proposalCreated = getAbiItem({ abi: policyGovernorAbi, name: "ProposalCreated" }) as AbiEvent;
const lifecycleEvents = (["ProposalQueued", "ProposalExecuted", "ProposalCanceled"] as const).map(
  (name) => getAbiItem({ abi: policyGovernorAbi, name }) as AbiEvent,
);

/** Every proposal the Governor stores, newest first, read at `head`. */
export async function readProposals(app: App, head: ChainHead): Promise<Proposal[]> {
  const { publicClient, contracts, logCache } = app;
  const governor = { address: contracts.governor, abi: policyGovernorAbi, blockNumber: head.number } as const;
  const [count, created, lifecycle] = await Promise.all([
    publicClient.readContract({ ...governor, functionName: "proposalCount" }),
    logCache.logs(contracts.governor, [proposalCreated], head.number),
    logCache.logs(contracts.governor, lifecycleEvents, head.number),
  ]);
  const byId = new Map(created.map((log) => [log.args.proposalId as bigint, log]));
  const times = await logCache.blockTimes([...created, ...lifecycle].map((l) => l.blockNumber));
  const indices = Array.from({ length: Number(count) }, (_, i) => Number(count) - 1 - i);
  return Promise.all(
    indices.map(async (index) => {
      const [id, targets, values, calldatas, descriptionHash] = await publicClient.readContract({
        ...governor,
        functionName: "proposalDetailsAt",
        args: [BigInt(index)],
      });
      const log = byId.get(id);
      const [state, snapshot, deadline, eta, votes, proposer, guardianRoleChange] = await Promise.all([
        publicClient.readContract({ ...governor, functionName: "state", args: [id] }),
        publicClient.readContract({ ...governor, functionName: "proposalSnapshot", args: [id] }),
        publicClient.readContract({ ...governor, functionName: "proposalDeadline", args: [id] }),
        publicClient.readContract({ ...governor, functionName: "proposalEta", args: [id] }),
        publicClient.readContract({ ...governor, functionName: "proposalVotes", args: [id] }),
        publicClient.readContract({ ...governor, functionName: "proposalProposer", args: [id] }),
        publicClient.readContract({ ...governor, functionName: "isGuardianRoleChange", args: [id] }),
      ]);
      // quorum() reverts for a block that is not yet in the past.
      const quorumIsEstimate = snapshot >= head.number;
      const quorum = await publicClient.readContract({
        ...governor,
        functionName: "quorum",
        args: [quorumIsEstimate ? head.number - 1n : snapshot],
      });
      const description = (log?.args.description as string | undefined) ?? "";
      return {
        id,
        index,
        proposer,
        targets,
        values,
        calldatas,
        descriptionHash,
        guardianRoleChange,
        description,
        title: proposalTitle(description, id),
        state: PROPOSAL_STATES[state] ?? "pending",
        snapshot,
        deadline,
        eta,
        votes: { against: votes[0], for: votes[1], abstain: votes[2] },
        quorum,
        quorumIsEstimate,
        createdBlock: log?.blockNumber,
        createdAt: log ? times.get(log.blockNumber) : undefined,
        milestones: lifecycle
          .filter((l) => l.args.proposalId === id)
          .map((l) => ({
            event: l.eventName.replace("Proposal", "").toLowerCase() as "queued" | "executed" | "canceled",
            blockNumber: l.blockNumber,
            timestamp: times.get(l.blockNumber),
          })),
      } satisfies Proposal;
    }),
  );
}

/** The first line of the description, without Markdown's heading marks. */
export function proposalTitle(description: string, id: bigint): string {
  const first = description
    .split("\n")
    .map((line) => line.trim())
    .find((line) => line !== "");
  return first ? first.replace(/^#+\s*/, "") : `Proposal ${id.toString().slice(0, 8)}…`;
}

/** The body of the description: everything after the title line. */
export function proposalBody(description: string): string {
  const lines = description.split("\n");
  const titleAt = lines.findIndex((line) => line.trim() !== "");
  return titleAt === -1
    ? ""
    : lines
        .slice(titleAt + 1)
        .join("\n")
        .trim();
}

export type Vote = {
  voter: Address;
  support: 0 | 1 | 2;
  weight: bigint;
  reason: string;
  blockNumber: bigint;
  transactionHash: Hex;
};

const voteCast = getAbiItem({ abi: policyGovernorAbi, name: "VoteCast" }) as AbiEvent;

/** Every vote on `proposalId`, newest first (VoteCast does not index the proposal, so all are read and filtered). */
export async function readVotes(app: App, head: ChainHead, proposalId: bigint): Promise<Vote[]> {
  const logs = await app.logCache.logs(app.contracts.governor, [voteCast], head.number);
  return logs
    .filter((log) => log.args.proposalId === proposalId)
    .map((log) => ({
      voter: log.args.voter as Address,
      support: Number(log.args.support) as 0 | 1 | 2,
      weight: log.args.weight as bigint,
      reason: log.args.reason as string,
      blockNumber: log.blockNumber,
      transactionHash: log.transactionHash,
    }))
    .reverse();
}
