import { describePolicyEvent } from "@dao-ai/pipeline-worker/policy-actions";
import { createFileRoute, Link } from "@tanstack/react-router";
import { useId, useState } from "react";
import { encodeFunctionData, type Address } from "viem";
import { AddressText } from "../components/AddressText.tsx";
import { ErrorNotice } from "../components/ErrorNotice.tsx";
import { Loaded } from "../components/Loading.tsx";
import {
  ImportSafeTransaction,
  SafeTransactionPanel,
  usePendingSafeTransaction,
} from "../components/SafeTransactionPanel.tsx";
import { SafeOwners } from "../components/SafeOwners.tsx";
import { useProposeSafeTransaction } from "../components/useProposeSafeTransaction.ts";
import { TxStatus } from "../components/TxStatus.tsx";
import { policyGovernorAbi, policyRegistryAbi, safeAbi, systemErrorsAbi } from "../lib/abis.ts";
import { useApp } from "../lib/AppContext.tsx";
import { useChainQuery } from "../lib/ChainHead.tsx";
import { formatTime } from "../lib/format.ts";
import { useGovernorSettings, usePolicy, useProposals } from "../lib/queries.ts";
import { useWallet } from "../lib/WalletContext.tsx";
import { useWrite } from "../lib/useWrite.ts";

export const Route = createFileRoute("/guardian")({ component: GuardianPage });

type GuardianInfo =
  | { kind: "account"; address: Address }
  | { kind: "safe"; address: Address; owners: readonly Address[]; threshold: bigint; nonce: bigint; version: string }
  | { kind: "contract"; address: Address };

function GuardianPage() {
  const policy = usePolicy();
  const settings = useGovernorSettings();
  const guardian = useChainQuery(
    ["guardian", policy.data?.guardian],
    async ({ publicClient }, head): Promise<GuardianInfo> => {
      const address = policy.data!.guardian;
      const code = await publicClient.getCode({ address, blockNumber: head.number });
      if (!code || code === "0x") return { kind: "account", address };
      try {
        const safe = { address, abi: safeAbi, blockNumber: head.number } as const;
        const [owners, threshold, nonce, version] = await Promise.all([
          publicClient.readContract({ ...safe, functionName: "getOwners" }),
          publicClient.readContract({ ...safe, functionName: "getThreshold" }),
          publicClient.readContract({ ...safe, functionName: "nonce" }),
          publicClient.readContract({ ...safe, functionName: "VERSION" }),
        ]);
        return { kind: "safe", address, owners, threshold, nonce, version };
      } catch {
        return { kind: "contract", address };
      }
    },
    { enabled: policy.data !== undefined },
  );
  const ks = policy.data?.killSwitch;
  const killHistory = (policy.data?.history ?? []).filter((c) => c.eventName.startsWith("KillSwitch"));

  return (
    <section className="page" aria-labelledby="guardian-title">
      <div className="page-head">
        <h1 id="guardian-title">Guardian</h1>
        <p className="lede">
          The guardian can stop the AI at once by engaging the kill switch, without a vote. It cannot lift the switch or
          change anything else: lifting takes a proposal.
        </p>
      </div>
      <div className="card-grid">
        <section className="card" aria-labelledby="who-title">
          <h2 id="who-title">Who guards</h2>
          <Loaded query={guardian} what="the guardian">
            {(g) => (
              <dl className="kv">
                <div>
                  <dt>Guardian</dt>
                  <dd>
                    <AddressText address={g.address} />
                  </dd>
                </div>
                {g.kind === "safe" ? (
                  <>
                    <div>
                      <dt>Kind</dt>
                      <dd>Safe {g.version}</dd>
                    </div>
                    <SafeOwners owners={g.owners} threshold={g.threshold} />
                  </>
                ) : (
                  <div>
                    <dt>Kind</dt>
                    <dd>
                      {g.kind === "account"
                        ? "A single account. Fine for a demo; in production the guardian should be a Safe."
                        : "A contract that is not a Safe this page understands."}
                    </dd>
                  </div>
                )}
                {settings.data ? (
                  <div>
                    <dt>Proposal guardian</dt>
                    <dd>
                      <AddressText address={settings.data.proposalGuardian} /> (may cancel any proposal but one that
                      only replaces the guardian or lifts the kill switch: the DAO can always replace it)
                    </dd>
                  </div>
                ) : null}
              </dl>
            )}
          </Loaded>
        </section>
        <section className="card" aria-labelledby="switch-title">
          <h2 id="switch-title">Kill switch</h2>
          {ks?.engaged ? (
            <>
              <p className="notice notice-error" data-testid="guardian-kill-state">
                Engagement {ks.engagementId.toString()}, by <AddressText address={ks.engagedBy} /> on{" "}
                {formatTime(ks.engagedAt)}: “{ks.reason}”
              </p>
              <p>
                Only a proposal can lift it.{" "}
                <Link to="/proposals/new" search={{ preset: "liftKillSwitch" }}>
                  Propose lifting it
                </Link>
                .
              </p>
            </>
          ) : (
            <p className="notice notice-ok" data-testid="guardian-kill-state">
              Off: the AI runs within policy.
            </p>
          )}
          {killHistory.length > 0 ? (
            <ul className="small">
              {killHistory.map((c) => (
                <li key={c.transactionHash}>
                  {describePolicyEvent(c)} (
                  {c.timestamp !== undefined ? formatTime(c.timestamp) : `block ${c.blockNumber}`})
                </li>
              ))}
            </ul>
          ) : null}
        </section>
      </div>
      {guardian.data?.kind === "safe" && ks ? (
        <SafeFlow safe={guardian.data} killSwitchEngaged={ks.engaged} />
      ) : guardian.data?.kind === "account" && ks && !ks.engaged ? (
        <DirectEngage guardian={guardian.data.address} />
      ) : null}
    </section>
  );
}

function ReasonField({ value, onChange }: { value: string; onChange: (v: string) => void }) {
  const id = useId();
  const bytes = new TextEncoder().encode(value).length;
  return (
    <div className="field field-wide">
      <label htmlFor={id}>Reason (shown to every user)</label>
      <input id={id} value={value} onChange={(e) => onChange(e.target.value)} maxLength={280} />
      <p className="field-help">{bytes} of 280 bytes</p>
    </div>
  );
}

/** The guardian is one account: it engages the switch itself. */
function DirectEngage({ guardian }: { guardian: Address }) {
  const { contracts } = useApp();
  const { wallet } = useWallet();
  const tx = useWrite();
  const [reason, setReason] = useState("");
  const isGuardian = wallet?.address.toLowerCase() === guardian.toLowerCase();
  return (
    <section className="card" aria-labelledby="engage-title">
      <h2 id="engage-title">Engage the kill switch</h2>
      {!isGuardian ? <p className="muted">Only the guardian's account can do this. Connect it to act.</p> : null}
      <ReasonField value={reason} onChange={setReason} />
      <button
        type="button"
        className="button-danger"
        disabled={!isGuardian || tx.busy || reason.trim() === ""}
        onClick={() =>
          void tx.write({
            label: "Engage the kill switch",
            address: contracts.policyRegistry,
            abi: policyRegistryAbi,
            functionName: "engageKillSwitch",
            args: [reason.trim()],
          })
        }
      >
        Engage the kill switch
      </button>
      <TxStatus state={tx.state} />
    </section>
  );
}

/** The guardian is a Safe: one owner proposes, owners sign (here or in the CLI), anyone executes. */
function SafeFlow({
  safe,
  killSwitchEngaged,
}: {
  safe: Extract<GuardianInfo, { kind: "safe" }>;
  killSwitchEngaged: boolean;
}) {
  const { contracts, config } = useApp();
  const settings = useGovernorSettings();
  const proposals = useProposals();
  const [reason, setReason] = useState("");
  const isProposalGuardian = settings.data?.proposalGuardian.toLowerCase() === safe.address.toLowerCase();
  // The Governor refuses the guardian a cancel of a proposal that only replaces it or lifts the
  // kill switch, so such proposals are not offered.
  const cancellable = isProposalGuardian
    ? (proposals.data ?? []).filter(
        (p) => ["pending", "active", "succeeded", "queued"].includes(p.state) && !p.guardianRoleChange,
      )
    : [];
  const [intent, setIntent] = useState<"engage" | "cancel">(killSwitchEngaged ? "cancel" : "engage");
  const [toCancel, setToCancel] = useState("");
  const intentId = useId();
  const cancelId = useId();
  const [pending, setPending] = usePendingSafeTransaction(safe.address);
  // Signing is the next step, by whichever owner is connected (the proposer, usually).
  const { proposing, error, propose } = useProposeSafeTransaction(safe.address, setPending);

  /** The call the owners are asked to make, in words too. */
  function call() {
    if (intent === "engage") {
      return {
        to: contracts.policyRegistry,
        data: encodeFunctionData({ abi: policyRegistryAbi, functionName: "engageKillSwitch", args: [reason.trim()] }),
        description: `Engage the kill switch: ${reason.trim()}`,
      };
    }
    const proposal = cancellable.find((p) => p.id.toString() === toCancel);
    if (!proposal) return undefined;
    return {
      to: contracts.governor,
      data: encodeFunctionData({ abi: policyGovernorAbi, functionName: "cancel", args: [proposal.id] }),
      description: `Cancel the proposal “${proposal.title}”`,
    };
  }

  return (
    <section className="card" aria-labelledby="safe-flow-title">
      <h2 id="safe-flow-title">Act through the Safe</h2>
      <p className="small muted">
        One owner proposes, owners sign (an owner that is itself a Safe signs through its own owners), and anyone
        executes once {safe.threshold.toString()} have signed. Owners on other machines, or using{" "}
        <code>npm run guardian</code>, pass the transaction along as a file: export it here, import theirs.
      </p>
      {pending ? (
        <SafeTransactionPanel
          safe={safe.address}
          pending={pending}
          onChange={setPending}
          errorsAbi={systemErrorsAbi}
          hintsFor={(failure) =>
            failure.startsWith("PolicyNotGuardian")
              ? ["This Safe is no longer the guardian: the DAO replaced it."]
              : failure.startsWith("PolicyKillSwitchAlreadyEngaged")
                ? ["The kill switch is already engaged; there is nothing to do."]
                : ["Check what the transaction calls, and that the Safe may make that call."]
          }
        />
      ) : (
        <>
          <div className="field">
            <label htmlFor={intentId}>What</label>
            <select id={intentId} value={intent} onChange={(e) => setIntent(e.target.value as "engage" | "cancel")}>
              <option value="engage" disabled={killSwitchEngaged}>
                Engage the kill switch{killSwitchEngaged ? " (already engaged)" : ""}
              </option>
              <option value="cancel" disabled={!isProposalGuardian}>
                Cancel a proposal{isProposalGuardian ? "" : " (the Safe is not the proposal guardian)"}
              </option>
            </select>
          </div>
          {intent === "engage" ? (
            <ReasonField value={reason} onChange={setReason} />
          ) : (
            <div className="field">
              <label htmlFor={cancelId}>Proposal to cancel</label>
              <select id={cancelId} value={toCancel} onChange={(e) => setToCancel(e.target.value)}>
                <option value="">{cancellable.length === 0 ? "no open proposal" : "choose…"}</option>
                {cancellable.map((p) => (
                  <option key={p.id.toString()} value={p.id.toString()}>
                    {p.title} ({p.state})
                  </option>
                ))}
              </select>
            </div>
          )}
          <button
            type="button"
            className="button-danger"
            disabled={proposing || (intent === "engage" ? reason.trim() === "" || killSwitchEngaged : toCancel === "")}
            onClick={() => void propose(call())}
          >
            Propose to the Safe's owners
          </button>
          {error ? <ErrorNotice error={error} title="Proposing failed" /> : null}
        </>
      )}
      <ImportSafeTransaction
        current={pending}
        check={(imported) =>
          imported.chainId !== config.chainId
            ? `It is for chain ${imported.chainId}; this is chain ${config.chainId}.`
            : imported.safe.toLowerCase() !== safe.address.toLowerCase()
              ? `It is for the Safe ${imported.safe}, not the guardian ${safe.address}.`
              : null
        }
        onImport={setPending}
      />
    </section>
  );
}
