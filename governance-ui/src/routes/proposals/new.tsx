import { createFileRoute, Link, useNavigate } from "@tanstack/react-router";
import { useEffect, useId, useMemo, useRef, useState } from "react";
import { parseEventLogs } from "viem";
import { ErrorNotice } from "../../components/ErrorNotice.tsx";
import { TxStatus } from "../../components/TxStatus.tsx";
import { policyGovernorAbi } from "../../lib/abis.ts";
import { useApp } from "../../lib/AppContext.tsx";
import { useChainHead } from "../../lib/ChainHead.tsx";
import { decodeError } from "../../lib/decodeError.ts";
import type { Call } from "../../lib/describeCall.ts";
import { formatEth, formatNumber, formatTokens } from "../../lib/format.ts";
import { Markdown } from "../../lib/Markdown.tsx";
import { useGovernorSettings, usePolicy, useVotingPower } from "../../lib/queries.ts";
import { simulateProposal, type ProposalSimulation } from "../../lib/simulateProposal.ts";
import { useWallet } from "../../lib/WalletContext.tsx";
import { useWrite } from "../../lib/useWrite.ts";
import { ActionForm } from "./-components/ActionForm.tsx";
import { ActionList } from "./-components/ActionList.tsx";
import { ACTION_KINDS, actionKind, type BuildContext, type Built } from "./-components/actionKinds.ts";

type Search = { preset?: string };

export const Route = createFileRoute("/proposals/new")({
  component: NewProposalPage,
  validateSearch: (search: Record<string, unknown>): Search =>
    typeof search.preset === "string" ? { preset: search.preset } : {},
});

type Draft = { key: number; kind: string; values: Record<string, string> };

const PRESET_TITLES: Record<string, string> = { liftKillSwitch: "Lift the kill switch" };

function NewProposalPage() {
  const { preset } = Route.useSearch();
  const { contracts, config, publicClient } = useApp();
  const { head } = useChainHead();
  const { data: policy } = usePolicy();
  const { wallet } = useWallet();
  const settings = useGovernorSettings();
  const power = useVotingPower(wallet?.address);
  const navigate = useNavigate();
  const tx = useWrite();
  const nextKey = useRef(1);

  const context: BuildContext = {
    contracts,
    dataSchemaUID: config.deployment.dataSchema.uid,
    policy,
    now: Number(head?.timestamp ?? BigInt(Math.floor(Date.now() / 1000))),
  };

  const [drafts, setDrafts] = useState<Draft[]>(() =>
    preset && ACTION_KINDS.some((k) => k.id === preset)
      ? [{ key: 0, kind: preset, values: actionKind(preset).defaults(context) }]
      : [],
  );
  // A lift names the engagement it lifts: fill it in once the policy has loaded, if it had not.
  const currentEngagement = policy?.killSwitch.engaged ? policy.killSwitch.engagementId.toString() : undefined;
  useEffect(() => {
    if (currentEngagement === undefined) return;
    const unnamed = (d: Draft) => d.kind === "liftKillSwitch" && !d.values.engagementId;
    setDrafts((ds) =>
      ds.some(unnamed)
        ? ds.map((d) => (unnamed(d) ? { ...d, values: { ...d.values, engagementId: currentEngagement } } : d))
        : ds,
    );
  }, [currentEngagement]);
  const [title, setTitle] = useState(preset ? (PRESET_TITLES[preset] ?? "") : "");
  const [body, setBody] = useState("");
  const [kindToAdd, setKindToAdd] = useState(ACTION_KINDS[0]!.id);
  const [showErrors, setShowErrors] = useState(false);
  const [simulation, setSimulation] = useState<ProposalSimulation | { error: ReturnType<typeof decodeError> } | null>(
    null,
  );
  const [simulating, setSimulating] = useState(false);
  const ids = { title: useId(), body: useId(), add: useId() };

  const built: Built[] = drafts.map((d) => actionKind(d.kind).build(d.values, context));
  const calls: Call[] = built.flatMap((b) => (b.ok ? [b.call] : []));
  const allValid = drafts.length > 0 && built.every((b) => b.ok) && title.trim() !== "";
  const description = `# ${title.trim()}\n\n${body.trim()}`.trim();
  const signature = useMemo(
    () => JSON.stringify({ calls, description }, (_, v: unknown) => (typeof v === "bigint" ? v.toString() : v)),
    [calls, description],
  );
  const [simulatedFor, setSimulatedFor] = useState<string | null>(null);
  const simulationCurrent = simulation !== null && simulatedFor === signature;
  const totalValue = calls.reduce((sum, c) => sum + c.value, 0n);

  function update(key: number, change: (draft: Draft) => Draft) {
    setDrafts((list) => list.map((d) => (d.key === key ? change(d) : d)));
  }
  function move(index: number, by: number) {
    setDrafts((list) => {
      const next = [...list];
      const [item] = next.splice(index, 1);
      next.splice(index + by, 0, item!);
      return next;
    });
  }

  async function simulate() {
    setShowErrors(true);
    if (!allValid) return;
    setSimulating(true);
    try {
      setSimulation(await simulateProposal({ publicClient, contracts, calls, proposer: wallet?.address, description }));
    } catch (error) {
      setSimulation({ error: decodeError(error) });
    } finally {
      setSimulatedFor(signature);
      setSimulating(false);
    }
  }

  async function submit() {
    setShowErrors(true);
    if (!allValid) return;
    const receipt = await tx.write({
      label: "Submit proposal",
      address: contracts.governor,
      abi: policyGovernorAbi,
      functionName: "propose",
      args: [calls.map((c) => c.target), calls.map((c) => c.value), calls.map((c) => c.data), description],
    });
    if (receipt?.status === "success") {
      const [created] = parseEventLogs({ abi: policyGovernorAbi, eventName: "ProposalCreated", logs: receipt.logs });
      if (created) {
        await navigate({ to: "/proposals/$proposalId", params: { proposalId: created.args.proposalId.toString() } });
      }
    }
  }

  const threshold = settings.data?.proposalThreshold;
  const canPropose = power.data && threshold !== undefined ? power.data.pastVotes >= threshold : undefined;

  return (
    <section className="page" aria-labelledby="new-title">
      <p className="breadcrumb">
        <Link to="/proposals">← All proposals</Link>
      </p>
      <div className="page-head">
        <h1 id="new-title">New proposal</h1>
        <p className="lede">
          Build the change from typed actions, see what it will change, simulate it as the timelock will run it, then
          submit it for a vote.
        </p>
      </div>

      {wallet && threshold !== undefined && power.data ? (
        <p className={canPropose ? "notice notice-ok" : "notice notice-warn"} data-testid="proposer-power">
          You have {formatTokens(power.data.pastVotes)} votes; proposing needs {formatTokens(threshold)}.
          {canPropose
            ? ""
            : power.data.votes >= threshold
              ? " Your delegation counts from the block after it was made: wait for the next block."
              : " Delegate to yourself first (on the Delegate page), or ask holders to delegate to you."}
        </p>
      ) : null}

      <div className="builder">
        <section className="card" aria-labelledby="describe-title">
          <h2 id="describe-title">1. Describe it</h2>
          <div className="field field-wide">
            <label htmlFor={ids.title}>Title</label>
            <input
              id={ids.title}
              value={title}
              onChange={(e) => setTitle(e.target.value)}
              aria-invalid={showErrors && title.trim() === "" ? true : undefined}
              placeholder="Raise the quota of the research consumer"
            />
            {showErrors && title.trim() === "" ? (
              <p className="field-error" role="alert">
                Give the proposal a title.
              </p>
            ) : null}
          </div>
          <div className="field field-wide">
            <label htmlFor={ids.body}>Description (Markdown)</label>
            <textarea
              id={ids.body}
              rows={5}
              value={body}
              onChange={(e) => setBody(e.target.value)}
              placeholder="Why, and what it costs."
            />
          </div>
        </section>

        <section className="card" aria-labelledby="actions-title">
          <h2 id="actions-title">2. Actions</h2>
          {drafts.length === 0 ? <p className="muted">No action yet: add one below.</p> : null}
          <ol className="draft-list">
            {drafts.map((draft, index) => {
              const kind = actionKind(draft.kind);
              const result = built[index]!;
              return (
                <li key={draft.key} className="draft card-inner" data-testid="draft-action">
                  <div className="draft-head">
                    <h3>
                      {index + 1}. {kind.label}
                    </h3>
                    <div className="draft-tools">
                      <button
                        type="button"
                        className="button-small button-secondary"
                        disabled={index === 0}
                        onClick={() => move(index, -1)}
                        aria-label={`Move action ${index + 1} up`}
                      >
                        ↑
                      </button>
                      <button
                        type="button"
                        className="button-small button-secondary"
                        disabled={index === drafts.length - 1}
                        onClick={() => move(index, 1)}
                        aria-label={`Move action ${index + 1} down`}
                      >
                        ↓
                      </button>
                      <button
                        type="button"
                        className="button-small button-secondary"
                        onClick={() => setDrafts((list) => list.filter((d) => d.key !== draft.key))}
                        aria-label={`Remove action ${index + 1}`}
                      >
                        Remove
                      </button>
                    </div>
                  </div>
                  <p className="muted small">{kind.help}</p>
                  <ActionForm
                    kind={kind}
                    idPrefix={`action-${draft.key}`}
                    values={draft.values}
                    errors={showErrors && !result.ok ? result.errors : {}}
                    onChange={(name, value) =>
                      update(draft.key, (d) => ({ ...d, values: { ...d.values, [name]: value } }))
                    }
                  />
                </li>
              );
            })}
          </ol>
          <div className="add-action">
            <label htmlFor={ids.add}>Add an action</label>
            <select id={ids.add} value={kindToAdd} onChange={(e) => setKindToAdd(e.target.value)}>
              {ACTION_KINDS.map((k) => (
                <option key={k.id} value={k.id}>
                  {k.label}
                </option>
              ))}
            </select>
            <button
              type="button"
              className="button-secondary"
              onClick={() => {
                const key = nextKey.current++;
                setDrafts((list) => [
                  ...list,
                  { key, kind: kindToAdd, values: actionKind(kindToAdd).defaults(context) },
                ]);
              }}
            >
              Add action
            </button>
          </div>
        </section>

        <section className="card" aria-labelledby="preview-title">
          <h2 id="preview-title">3. Preview</h2>
          {calls.length === 0 ? (
            <p className="muted">The actions will show here in plain words once they are filled in.</p>
          ) : (
            <>
              <div className="preview-description">
                <Markdown source={description} headingOffset={2} />
              </div>
              <ActionList calls={calls} policy={policy} />
              {totalValue > 0n ? (
                <p className="small">
                  The actions send {formatEth(totalValue)} in all from the treasury (the timelock).
                </p>
              ) : null}
            </>
          )}
        </section>

        <section className="card" aria-labelledby="simulate-title">
          <h2 id="simulate-title">4. Simulate and submit</h2>
          <p className="muted small">
            The simulation runs every action as the timelock, on the chain's current state, so a change that would fail
            at execution is caught now.
          </p>
          <div className="button-row">
            <button type="button" className="button-secondary" onClick={() => void simulate()} disabled={simulating}>
              {simulating ? "Simulating…" : "Simulate"}
            </button>
            <button type="button" onClick={() => void submit()} disabled={tx.busy || !wallet}>
              Submit proposal
            </button>
          </div>
          {!wallet ? <p className="small muted">Connect a wallet or pick an account to submit.</p> : null}
          {showErrors && !allValid ? (
            <p className="field-error" role="alert">
              {drafts.length === 0 ? "Add at least one action." : "Fix the fields marked above first."}
            </p>
          ) : null}
          {simulation && simulationCurrent ? <SimulationView simulation={simulation} /> : null}
          {simulation && !simulationCurrent ? (
            <p className="small muted">The proposal changed since the last simulation: simulate again.</p>
          ) : null}
          <TxStatus state={tx.state} />
        </section>
      </div>
    </section>
  );
}

function SimulationView({
  simulation,
}: {
  simulation: ProposalSimulation | { error: ReturnType<typeof decodeError> };
}) {
  if ("error" in simulation) return <ErrorNotice error={simulation.error} title="The simulation failed" />;
  const failed = simulation.actions.filter((a) => !a.ok).length;
  return (
    <div className="simulation" data-testid="simulation" aria-live="polite">
      <p className={failed === 0 ? "notice notice-ok" : "notice notice-error"}>
        {failed === 0
          ? `All ${simulation.actions.length} action(s) succeed as the timelock${simulation.sequential ? ", run in order" : ""}.`
          : `${failed} of ${simulation.actions.length} action(s) would fail at execution.`}
      </p>
      <ol className="simulation-list">
        {simulation.actions.map((a, i) => (
          <li key={i}>
            {a.ok ? (
              <>
                <span className="ok-mark">✓ Succeeds</span>
                {a.gas !== undefined ? (
                  <span className="muted small"> using about {formatNumber(a.gas)} gas</span>
                ) : null}
                {a.effects.length > 0 ? (
                  <ul className="small">
                    {a.effects.map((e) => (
                      <li key={e}>{e}</li>
                    ))}
                  </ul>
                ) : null}
              </>
            ) : (
              <ErrorNotice error={a.error} title={`Action ${i + 1} would fail`} />
            )}
          </li>
        ))}
      </ol>
      {!simulation.sequential ? (
        <p className="small muted">
          This node cannot simulate several calls in sequence: each action was simulated alone, so an action that relies
          on an earlier one may show a failure that execution would not have.
        </p>
      ) : null}
      {simulation.propose && !simulation.propose.ok ? (
        <ErrorNotice error={simulation.propose.error} title="You cannot submit it yet" />
      ) : null}
    </div>
  );
}
