import { useId, useState } from "react";
import { TxStatus } from "../../../components/TxStatus.tsx";
import { policyGovernorAbi } from "../../../lib/abis.ts";
import { useApp } from "../../../lib/AppContext.tsx";
import { useChainHead, useChainQuery } from "../../../lib/ChainHead.tsx";
import { formatDuration, formatTokens } from "../../../lib/format.ts";
import { useGovernorSettings } from "../../../lib/queries.ts";
import type { Proposal } from "../../../lib/readProposals.ts";
import { useWallet } from "../../../lib/WalletContext.tsx";
import { useWrite } from "../../../lib/useWrite.ts";

const CHOICES = [
  { value: 1, label: "For" },
  { value: 0, label: "Against" },
  { value: 2, label: "Abstain" },
] as const;

/** The buttons the proposal's state allows: vote, queue, execute, and the guardian's cancel. */
export function ProposalControls({ proposal }: { proposal: Proposal }) {
  const { contracts } = useApp();
  const { wallet } = useWallet();
  const { head } = useChainHead();
  const settings = useGovernorSettings();
  const tx = useWrite();
  const account = wallet?.address;

  const ballot = useChainQuery(
    ["ballot", proposal.id, account],
    async ({ publicClient }, h) => {
      const governor = { address: contracts.governor, abi: policyGovernorAbi, blockNumber: h.number } as const;
      const [hasVoted, weight] = await Promise.all([
        publicClient.readContract({ ...governor, functionName: "hasVoted", args: [proposal.id, account!] }),
        proposal.snapshot < h.number
          ? publicClient.readContract({ ...governor, functionName: "getVotes", args: [account!, proposal.snapshot] })
          : Promise.resolve(undefined),
      ]);
      return { hasVoted, weight };
    },
    { enabled: account !== undefined },
  );

  const governor = { address: contracts.governor, abi: policyGovernorAbi } as const;
  const isGuardian = account !== undefined && settings.data?.proposalGuardian.toLowerCase() === account.toLowerCase();
  const isProposer = account !== undefined && proposal.proposer.toLowerCase() === account.toLowerCase();
  const cancellable =
    (isGuardian && ["pending", "active", "succeeded", "queued"].includes(proposal.state)) ||
    (isProposer && proposal.state === "pending");
  const etaLeft = head ? Number(proposal.eta - head.timestamp) : 0;

  return (
    <section className="card controls" aria-labelledby="controls-title">
      <h2 id="controls-title">Act</h2>
      {!wallet && ["active", "succeeded", "queued"].includes(proposal.state) ? (
        <p className="muted">Connect a wallet or pick an account to act on this proposal.</p>
      ) : null}

      {proposal.state === "pending" ? (
        <p>Voting has not opened yet. Voting power is counted at block {proposal.snapshot.toString()}.</p>
      ) : null}

      {proposal.state === "active" && wallet ? (
        ballot.data?.hasVoted ? (
          <p className="notice notice-ok" data-testid="already-voted">
            You have voted on this proposal.
          </p>
        ) : (
          <VoteForm
            weight={ballot.data?.weight}
            busy={tx.busy}
            onVote={(support, reason) =>
              void tx.write({
                label: `Vote ${CHOICES.find((c) => c.value === support)!.label.toLowerCase()}`,
                ...governor,
                functionName: reason.trim() ? "castVoteWithReason" : "castVote",
                args: reason.trim() ? [proposal.id, support, reason.trim()] : [proposal.id, support],
              })
            }
          />
        )
      ) : null}

      {proposal.state === "succeeded" ? (
        <div className="control-row">
          <p>The proposal passed. Queue it in the timelock to start the delay before it can be executed.</p>
          <button
            type="button"
            disabled={tx.busy || !wallet}
            onClick={() => void tx.write({ label: "Queue", ...governor, functionName: "queue", args: [proposal.id] })}
          >
            Queue
          </button>
        </div>
      ) : null}

      {proposal.state === "queued" ? (
        <div className="control-row">
          <p>
            {etaLeft > 0
              ? `Queued. It can be executed in ${formatDuration(etaLeft)}.`
              : "Queued and ready: anyone may execute it now."}
          </p>
          <button
            type="button"
            disabled={tx.busy || !wallet || etaLeft > 0}
            onClick={() =>
              void tx.write({ label: "Execute", ...governor, functionName: "execute", args: [proposal.id] })
            }
          >
            Execute
          </button>
        </div>
      ) : null}

      {proposal.state === "executed" ? <p className="notice notice-ok">Executed: its changes are in force.</p> : null}
      {proposal.state === "defeated" ? <p>Defeated: not enough votes for it, or quorum was not reached.</p> : null}
      {proposal.state === "canceled" ? <p>Canceled.</p> : null}

      {cancellable ? (
        <div className="control-row">
          <p className="small muted">
            {isGuardian
              ? "As the proposal guardian you may cancel this proposal."
              : "As its proposer you may cancel it before voting opens."}
          </p>
          <button
            type="button"
            className="button-danger"
            disabled={tx.busy}
            onClick={() => void tx.write({ label: "Cancel", ...governor, functionName: "cancel", args: [proposal.id] })}
          >
            Cancel proposal
          </button>
        </div>
      ) : null}

      <TxStatus state={tx.state} />
    </section>
  );
}

function VoteForm({
  weight,
  busy,
  onVote,
}: {
  weight: bigint | undefined;
  busy: boolean;
  onVote: (support: number, reason: string) => void;
}) {
  const [support, setSupport] = useState<number>(1);
  const [reason, setReason] = useState("");
  const reasonId = useId();
  return (
    <form
      className="vote-form"
      onSubmit={(event) => {
        event.preventDefault();
        onVote(support, reason);
      }}
    >
      <fieldset>
        <legend>Your vote</legend>
        <div className="segmented">
          {CHOICES.map((choice) => (
            <label key={choice.value} className={`segment segment-${choice.label.toLowerCase()}`}>
              <input
                type="radio"
                name="support"
                value={choice.value}
                checked={support === choice.value}
                onChange={() => setSupport(choice.value)}
              />
              <span>{choice.label}</span>
            </label>
          ))}
        </div>
      </fieldset>
      <label htmlFor={reasonId}>Reason (optional, public)</label>
      <textarea id={reasonId} rows={3} value={reason} onChange={(e) => setReason(e.target.value)} />
      {weight !== undefined ? (
        <p className="small muted">
          Your voting power at the snapshot: <strong>{formatTokens(weight)}</strong>
          {weight === 0n ? " — delegate before a proposal's snapshot to vote on it." : ""}
        </p>
      ) : null}
      <button type="submit" disabled={busy}>
        Cast vote
      </button>
    </form>
  );
}
