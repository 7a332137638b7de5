import { decodeEventLog, getAddress, keccak256, toHex, type Address, type Hex, type Log } from "viem";
import { policyGovernorAbi, policyRegistryAbi } from "../abis.ts";
import type { AlertPayload } from "./alertPayload.ts";

/** A proposal whose vote the notifier watches, to say when it is about to end. */
export type TrackedProposal = {
  /** Decimal. */
  proposalId: string;
  title: string | null;
  /** The last block of the vote (decimal); moved by `ProposalExtended`. */
  deadline: string;
  /** The deadline a `proposal.ending` alert was made for, so an extension makes a new one. */
  endingAlertedFor: string | null;
};

/** What a range of events does to the watched proposals, in chain order. */
export type ProposalChange =
  | { op: "track"; proposal: TrackedProposal }
  | { op: "extend"; proposalId: string; deadline: string }
  | { op: "untrack"; proposalId: string };

export type AlertContext = {
  chainId: number;
  governor: Address;
  registry: Address;
  /** The governance UI's base URL, for links; undefined: no links. */
  uiUrl: string | undefined;
  /** Titles of proposals seen before this range (the store's watched proposals). */
  titleOf: (proposalId: string) => string | null;
};

export type DecodedAlertEvents = { alerts: AlertPayload[]; proposals: ProposalChange[] };

type ChainLog = Log<bigint, number, false>;

/**
 * Turns the Governor's and the registry's logs into alerts, in the order given (chain order), and
 * says which proposals to watch for their end. Logs of other contracts or events that are not
 * alerts are skipped; `timestamps` has each block's timestamp by block hash. Pure: the same logs
 * give the same alerts with the same ids, so re-reading a range after a restart or a reorg
 * produces nothing new for the de-duplication to let through.
 */
export function decodeAlertEvents(
  logs: readonly ChainLog[],
  timestamps: ReadonlyMap<Hex, bigint>,
  context: AlertContext,
): DecodedAlertEvents {
  const alerts: AlertPayload[] = [];
  const proposals: ProposalChange[] = [];
  // Titles of proposals created earlier in this same range.
  const titles = new Map<string, string | null>();
  const titleOf = (proposalId: string) =>
    titles.has(proposalId) ? titles.get(proposalId)! : context.titleOf(proposalId);
  const governor = getAddress(context.governor);
  const registry = getAddress(context.registry);

  for (const log of logs) {
    const emitter = getAddress(log.address);
    const timestamp = timestamps.get(log.blockHash);
    if (timestamp === undefined) continue;
    const envelope = {
      id: alertId(context.chainId, emitter, log.transactionHash, log.logIndex),
      timestamp: isoSeconds(timestamp),
      chainId: context.chainId,
      block: { number: log.blockNumber.toString(), hash: log.blockHash, timestamp: isoSeconds(timestamp) },
      transactionHash: log.transactionHash,
    };
    if (emitter === registry) {
      const event = decodeOrSkip(policyRegistryAbi, log);
      if (event?.eventName === "KillSwitchEngaged") {
        const { engagementId, by, reason, policyVersion } = event.args;
        alerts.push({
          ...envelope,
          type: "kill_switch.engaged",
          data: {
            registry,
            engagementId: engagementId.toString(),
            by: getAddress(by),
            reason,
            policyVersion: policyVersion.toString(),
            url: link(context.uiUrl, "guardian"),
          },
        });
      } else if (event?.eventName === "KillSwitchLifted") {
        const { engagementId, by, policyVersion } = event.args;
        alerts.push({
          ...envelope,
          type: "kill_switch.lifted",
          data: {
            registry,
            engagementId: engagementId.toString(),
            by: getAddress(by),
            policyVersion: policyVersion.toString(),
            url: link(context.uiUrl, "guardian"),
          },
        });
      }
      continue;
    }
    if (emitter !== governor) continue;
    const event = decodeOrSkip(policyGovernorAbi, log);
    if (event === undefined) continue;
    const proposalOf = (proposalId: bigint) => {
      const id = proposalId.toString();
      return { governor, proposalId: id, title: titleOf(id), url: link(context.uiUrl, `proposals/${id}`) };
    };
    switch (event.eventName) {
      case "ProposalCreated": {
        const { proposalId, proposer, targets, calldatas, voteStart, voteEnd, description } = event.args;
        const id = proposalId.toString();
        const title = proposalTitle(description);
        titles.set(id, title);
        alerts.push({
          ...envelope,
          type: "proposal.created",
          data: {
            ...proposalOf(proposalId),
            proposer: getAddress(proposer),
            description,
            voteStart: voteStart.toString(),
            voteEnd: voteEnd.toString(),
            actions: targets.map((target, i) => ({
              target: getAddress(target),
              value: (event.args.values[i] ?? 0n).toString(),
              calldata: calldatas[i] ?? "0x",
            })),
          },
        });
        proposals.push({
          op: "track",
          proposal: { proposalId: id, title, deadline: voteEnd.toString(), endingAlertedFor: null },
        });
        break;
      }
      case "ProposalExtended":
        proposals.push({
          op: "extend",
          proposalId: event.args.proposalId.toString(),
          deadline: event.args.extendedDeadline.toString(),
        });
        break;
      case "ProposalQueued":
        alerts.push({
          ...envelope,
          type: "proposal.queued",
          data: { ...proposalOf(event.args.proposalId), eta: isoSeconds(event.args.etaSeconds) },
        });
        proposals.push({ op: "untrack", proposalId: event.args.proposalId.toString() });
        break;
      case "ProposalExecuted":
        alerts.push({ ...envelope, type: "proposal.executed", data: proposalOf(event.args.proposalId) });
        proposals.push({ op: "untrack", proposalId: event.args.proposalId.toString() });
        break;
      case "ProposalCanceled":
        alerts.push({ ...envelope, type: "proposal.canceled", data: proposalOf(event.args.proposalId) });
        proposals.push({ op: "untrack", proposalId: event.args.proposalId.toString() });
        break;
    }
  }
  return { alerts, proposals };
}

function decodeOrSkip<const TAbi extends typeof policyGovernorAbi | typeof policyRegistryAbi>(
  abi: TAbi,
  log: ChainLog,
) {
  try {
    return decodeEventLog({ abi, data: log.data, topics: log.topics, strict: true });
  } catch {
    // An event this ABI does not know (a newer contract version) is not an alert.
    return undefined;
  }
}

/**
 * A stable id from where the event sits: the same log read again gives the same id. The log index
 * is in the id, so two events of one transaction (a proposal that both lifts and re-engages) stay
 * two alerts.
 */
export function alertId(chainId: number, emitter: Address, transactionHash: Hex, logIndex: number): string {
  return `evt_${keccak256(toHex(`${chainId}:${emitter.toLowerCase()}:${transactionHash}:${logIndex}`)).slice(2, 34)}`;
}

/** The id of the "about to end" alert for one deadline: an extended vote gets a new alert. */
export function endingAlertId(chainId: number, governor: Address, proposalId: string, deadline: string): string {
  return `evt_${keccak256(toHex(`${chainId}:${governor.toLowerCase()}:${proposalId}:ending:${deadline}`)).slice(2, 34)}`;
}

/** A proposal's title as the UI shows it: the description's first non-empty line, without heading marks. */
export function proposalTitle(description: string): string | null {
  const line = description
    .split("\n")
    .map((l) => l.replace(/^\s*#+\s*/, "").trim())
    .find((l) => l !== "");
  if (line === undefined) return null;
  return line.length > 120 ? `${line.slice(0, 119)}…` : line;
}

export function isoSeconds(seconds: bigint): string {
  return new Date(Number(seconds) * 1000).toISOString();
}

function link(uiUrl: string | undefined, path: string): string | null {
  return uiUrl === undefined ? null : `${uiUrl.replace(/\/+$/, "")}/${path}`;
}
