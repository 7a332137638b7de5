import type { ProposalState } from "../lib/readProposals.ts";

/** A proposal's state as a coloured label (the word is always there: colour is never the only cue). */
export function StateBadge({ state }: { state: ProposalState }) {
  return (
    <span className={`badge badge-${state}`} data-testid="proposal-state">
      {state}
    </span>
  );
}
