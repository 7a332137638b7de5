import type { TrackedProposal } from "./decodeAlertEvents.ts";

export type FindEndingProposalsParameters = {
  proposals: Iterable<TrackedProposal>;
  /** The newest block the notifier has processed. */
  head: bigint;
  /** How many blocks before its deadline a vote counts as about to end. */
  windowBlocks: number;
};

export type EndingProposals = {
  /** Votes still open whose deadline is within the window and not yet alerted for that deadline. */
  ending: TrackedProposal[];
  /** Votes that closed: nothing more to say about them here (queued, executed and canceled come as events). */
  ended: string[];
};

/**
 * The "about to end" schedule. A vote is open up to and including its deadline block (the
 * Governor's `Active` state), so one is about to end once `deadline - head <= windowBlocks` while
 * `head <= deadline`. A vote the notifier first sees already inside the window is alerted at once;
 * one it sees only after its deadline (a notifier that was down) is dropped: telling people a vote
 * they can no longer cast is about to end helps nobody.
 */
export function findEndingProposals(parameters: FindEndingProposalsParameters): EndingProposals {
  const { head } = parameters;
  const window = BigInt(parameters.windowBlocks);
  const ending: TrackedProposal[] = [];
  const ended: string[] = [];
  for (const proposal of parameters.proposals) {
    const deadline = BigInt(proposal.deadline);
    if (head > deadline) ended.push(proposal.proposalId);
    else if (deadline - head <= window && proposal.endingAlertedFor !== proposal.deadline) ending.push(proposal);
  }
  return { ending, ended };
}
