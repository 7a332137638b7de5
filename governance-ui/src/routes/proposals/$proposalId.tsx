import { createFileRoute, Link } from "@tanstack/react-router";
import { AddressText } from "../../components/AddressText.tsx";
import { Loaded } from "../../components/Loading.tsx";
import { StateBadge } from "../../components/StateBadge.tsx";
import { VoteBar } from "../../components/VoteBar.tsx";
import { useChainHead } from "../../lib/ChainHead.tsx";
import { formatTime } from "../../lib/format.ts";
import { Markdown } from "../../lib/Markdown.tsx";
import { proposalTiming } from "../../lib/proposalTiming.ts";
import { usePolicy, useProposals } from "../../lib/queries.ts";
import { proposalBody, type Proposal } from "../../lib/readProposals.ts";
import { ActionList } from "./-components/ActionList.tsx";
import { ProposalControls } from "./-components/ProposalControls.tsx";
import { VoteList } from "./-components/VoteList.tsx";

export const Route = createFileRoute("/proposals/$proposalId")({ component: ProposalPage });

function ProposalPage() {
  const { proposalId } = Route.useParams();
  const proposals = useProposals();
  return (
    <section className="page">
      <p className="breadcrumb">
        <Link to="/proposals">← All proposals</Link>
      </p>
      <Loaded query={proposals} what="the proposal">
        {(list) => {
          const proposal = list.find((p) => p.id.toString() === proposalId);
          return proposal ? (
            <ProposalView proposal={proposal} />
          ) : (
            <p role="alert">No proposal with id {proposalId} exists on this Governor.</p>
          );
        }}
      </Loaded>
    </section>
  );
}

function ProposalView({ proposal }: { proposal: Proposal }) {
  const { head } = useChainHead();
  const { data: policy } = usePolicy();
  const body = proposalBody(proposal.description);
  const open = !["executed", "canceled", "defeated", "expired"].includes(proposal.state);
  return (
    <article aria-labelledby="proposal-title">
      <header className="proposal-head">
        <StateBadge state={proposal.state} />
        <h1 id="proposal-title">{proposal.title}</h1>
        <p className="muted">
          Proposed by <AddressText address={proposal.proposer} />
          {proposal.createdAt !== undefined ? ` on ${formatTime(proposal.createdAt)}` : ""}
          {proposal.createdBlock !== undefined ? ` (block ${proposal.createdBlock.toString()})` : ""}
        </p>
        {head ? (
          <p className="proposal-timing" data-testid="proposal-timing">
            {proposalTiming(proposal, head)}
          </p>
        ) : null}
      </header>

      <div className="detail-grid">
        <div className="detail-main">
          <section className="card" aria-labelledby="actions-title">
            <h2 id="actions-title">What it does</h2>
            <ActionList
              calls={proposal.targets.map((target, i) => ({
                target,
                value: proposal.values[i] ?? 0n,
                data: proposal.calldatas[i] ?? "0x",
              }))}
              policy={open ? policy : undefined}
            />
          </section>

          <section className="card" aria-labelledby="description-title">
            <h2 id="description-title">Description</h2>
            {body ? (
              <Markdown source={body} headingOffset={2} />
            ) : (
              <p className="muted">No description beyond the title.</p>
            )}
          </section>

          <section className="card" aria-labelledby="votes-title">
            <h2 id="votes-title">Votes</h2>
            <VoteBar votes={proposal.votes} quorum={proposal.quorum} quorumIsEstimate={proposal.quorumIsEstimate} />
            <VoteList proposalId={proposal.id} />
          </section>
        </div>

        <aside className="detail-side">
          <ProposalControls proposal={proposal} />
          <section className="card" aria-labelledby="timeline-title">
            <h2 id="timeline-title">Timeline</h2>
            <dl className="kv">
              <div>
                <dt>Snapshot</dt>
                <dd>block {proposal.snapshot.toString()} (voting power is counted here)</dd>
              </div>
              <div>
                <dt>Voting ends</dt>
                <dd>block {proposal.deadline.toString()}</dd>
              </div>
              {(["queued", "executable", "executed", "canceled"] as const).map((event) => {
                if (event === "executable") {
                  return proposal.eta > 0n ? (
                    <div key={event}>
                      <dt>Executable from</dt>
                      <dd>{formatTime(proposal.eta)}</dd>
                    </div>
                  ) : null;
                }
                const m = proposal.milestones.find((x) => x.event === event);
                return m ? (
                  <div key={event}>
                    <dt className="capitalize">{event}</dt>
                    <dd>
                      {m.timestamp !== undefined ? `${formatTime(m.timestamp)}, ` : ""}block {m.blockNumber.toString()}
                    </dd>
                  </div>
                ) : null;
              })}
              <div>
                <dt>Proposal id</dt>
                <dd>
                  <code className="break">{proposal.id.toString()}</code>
                </dd>
              </div>
            </dl>
          </section>
        </aside>
      </div>
    </article>
  );
}
