import type { ChainHead } from "./ChainHead.tsx";
import { formatDuration, formatTime, plural } from "./format.ts";
import type { Proposal } from "./readProposals.ts";

/** Where a proposal stands in time, in blocks and in clock time (estimated from the block time). */
export function proposalTiming(proposal: Proposal, head: ChainHead): string {
  const blocksUntil = (block: bigint) => (block > head.number ? block - head.number : 0n);
  const clock = (blocks: bigint) => `≈ ${formatDuration(Number(blocks) * head.blockTime)}`;
  switch (proposal.state) {
    case "pending": {
      const blocks = blocksUntil(proposal.snapshot + 1n);
      return `Voting opens in ${plural(blocks, "block")} (${clock(blocks)})`;
    }
    case "active": {
      const blocks = blocksUntil(proposal.deadline + 1n);
      return `${plural(blocks, "block")} left to vote (${clock(blocks)})`;
    }
    case "succeeded":
      return "Passed: ready to queue";
    case "queued": {
      const seconds = Number(proposal.eta - head.timestamp);
      return seconds > 0
        ? `Executable in ${formatDuration(seconds)} (at ${formatTime(proposal.eta)})`
        : "Ready to execute";
    }
    case "executed":
      return "Executed";
    case "defeated":
      return `Defeated at block ${proposal.deadline.toString()}`;
    case "canceled":
      return "Canceled";
    case "expired":
      return "Expired without being executed";
  }
}
