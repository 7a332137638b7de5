import { createFileRoute, Link } from "@tanstack/react-router";
import { Loaded } from "../../components/Loading.tsx";
import { StateBadge } from "../../components/StateBadge.tsx";
import { VoteBar } from "../../components/VoteBar.tsx";
import { useChainHead } from "../../lib/ChainHead.tsx";
import { describeCall } from "../../lib/describeCall.ts";
import { formatTime, plural } from "../../lib/format.ts";
import { proposalTiming } from "../../lib/proposalTiming.ts";
import { useProposals } from "../../lib/queries.ts";
import type { Proposal } from "../../lib/readProposals.ts";
import { useApp } from "../../lib/AppContext.tsx";
import { AddressText } from "../../components/AddressText.tsx";

export const Route = createFileRoute("/proposals/")({ component: ProposalsPage });

function ProposalsPage() {
  const proposals = useProposals();
  return (
    <section className="page" aria-labelledby="proposals-title">
      <div className="page-head page-head-row">
        <div>
          <h1 id="proposals-title">Proposals</h1>
          <p className="lede">
            Every change of policy starts here: proposed, voted on, queued in the timelock, executed.
          </p>
        </div>
        <Link to="/proposals/new" className="button">
          New proposal
        </Link>
      </div>
      <Loaded query={proposals} what="the proposals">
        {(list) =>
          list.length === 0 ? (
            <p className="empty">
              No proposal yet. <Link to="/proposals/new">Make the first one</Link>.
            </p>
          ) : (
            <ol className="proposal-list" data-testid="proposal-list">
              {list.map((p) => (
                <ProposalRow key={p.id.toString()} proposal={p} />
              ))}
            </ol>
          )
        }
      </Loaded>
    </section>
  );
}

function ProposalRow({ proposal }: { proposal: Proposal }) {
  const { head } = useChainHead();
  const { contracts } = useApp();
  const first = proposal.targets[0]
    ? describeCall(
        { target: proposal.targets[0], value: proposal.values[0] ?? 0n, data: proposal.calldatas[0] ?? "0x" },
        contracts,
      ).summary
    : "";
  return (
    <li className="proposal-row card">
      <div className="proposal-row-head">
        <StateBadge state={proposal.state} />
        <h2 className="proposal-row-title">
          <Link to="/proposals/$proposalId" params={{ proposalId: proposal.id.toString() }}>
            {proposal.title}
          </Link>
        </h2>
      </div>
      <p className="muted small">
        #{proposal.index + 1} by <AddressText address={proposal.proposer} />
        {proposal.createdAt !== undefined ? ` on ${formatTime(proposal.createdAt)}` : ""} ·{" "}
        {plural(proposal.targets.length, "action")}: {first}
        {proposal.targets.length > 1 ? "…" : ""}
      </p>
      <VoteBar votes={proposal.votes} quorum={proposal.quorum} quorumIsEstimate={proposal.quorumIsEstimate} />
      {head ? (
        <p className="proposal-timing small" data-testid="proposal-timing">
          {proposalTiming(proposal, head)}
        </p>
      ) : null}
    </li>
  );
}
