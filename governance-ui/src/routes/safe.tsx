import { safeSignerRole, serialisePendingSafeTransaction } from "@dao-ai/pipeline-worker/safe";
import { createFileRoute } from "@tanstack/react-router";
import { useEffect, useId, useState } from "react";
import { encodeFunctionData, getAddress, isAddress, type Address, type Hex } from "viem";
import { AddressText } from "../components/AddressText.tsx";
import { ErrorNotice } from "../components/ErrorNotice.tsx";
import { Loaded } from "../components/Loading.tsx";
import {
  ImportSafeTransaction,
  pendingStorageKey,
  SafeTransactionPanel,
  usePendingSafeTransaction,
  useSafeConnection,
} from "../components/SafeTransactionPanel.tsx";
import { SafeOwners } from "../components/SafeOwners.tsx";
import { useProposeSafeTransaction } from "../components/useProposeSafeTransaction.ts";
import { governanceTokenAbi, policyGovernorAbi, safeAbi, systemErrorsAbi } from "../lib/abis.ts";
import { useApp } from "../lib/AppContext.tsx";
import { useChainQuery } from "../lib/ChainHead.tsx";
import { formatTokens } from "../lib/format.ts";
import { useProposals } from "../lib/queries.ts";
import { useWallet } from "../lib/WalletContext.tsx";

export const Route = createFileRoute("/safe")({ component: SafePage });

const STORAGE_KEY = "dao-ai.acting-safe";

/**
 * A Safe that holds tokens acts through its owners: an owner connects (a development account or a
 * browser wallet), builds the Safe's delegate or vote, and the owners sign and execute it the way
 * the guardian's owners do, with the same files. The vote counts with the Safe's voting power.
 */
function SafePage() {
  const { config } = useApp();
  const [safe, setSafe] = useState<Address | undefined>(undefined);
  const [typed, setTyped] = useState("");
  const fieldId = useId();
  const [pending, setPending] = usePendingSafeTransaction(safe);

  useEffect(() => {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved && isAddress(saved)) {
      setSafe(getAddress(saved));
      setTyped(saved);
    }
  }, []);

  function choose(address: string) {
    setTyped(address);
    if (isAddress(address)) {
      setSafe(getAddress(address));
      localStorage.setItem(STORAGE_KEY, getAddress(address));
    } else {
      setSafe(undefined);
    }
  }

  return (
    <section className="page" aria-labelledby="safe-title">
      <div className="page-head">
        <h1 id="safe-title">Safe account</h1>
        <p className="lede">
          Tokens held by a Safe vote through its owners: one owner builds the Safe's delegation or vote, enough owners
          sign (here, or with <code>npm run guardian</code> on the same files), and anyone executes it. The vote counts
          with the Safe's voting power.
        </p>
      </div>
      <section className="card" aria-labelledby="which-safe-title">
        <h2 id="which-safe-title">Which Safe</h2>
        <div className="field field-wide">
          <label htmlFor={fieldId}>Safe address</label>
          <input
            id={fieldId}
            value={typed}
            placeholder="0x…"
            spellCheck={false}
            onChange={(e) => choose(e.target.value.trim())}
          />
          {typed !== "" && !safe ? <p className="field-help">Not an address.</p> : null}
        </div>
        <ImportSafeTransaction
          current={pending}
          check={(imported) =>
            imported.chainId === config.chainId
              ? null
              : `It is for chain ${imported.chainId}; this is chain ${config.chainId}.`
          }
          onImport={(imported) => {
            if (safe === imported.safe) return setPending(imported);
            // A file names its Safe: importing one acts as that Safe, with the file as its pending transaction.
            localStorage.setItem(pendingStorageKey(imported.safe), serialisePendingSafeTransaction(imported));
            choose(imported.safe);
          }}
        />
      </section>
      {safe ? <SafeAccount safe={safe} pending={pending} setPending={setPending} /> : null}
    </section>
  );
}

type SafeAccountProps = {
  safe: Address;
  pending: ReturnType<typeof usePendingSafeTransaction>[0];
  setPending: ReturnType<typeof usePendingSafeTransaction>[1];
};

function SafeAccount({ safe, pending, setPending }: SafeAccountProps) {
  const { contracts, config } = useApp();
  const { wallet } = useWallet();
  const connection = useSafeConnection();
  const info = useChainQuery(["acting-safe", safe], async ({ publicClient }, head) => {
    const at = { blockNumber: head.number } as const;
    const code = await publicClient.getCode({ address: safe, ...at });
    if (!code || code === "0x") return null;
    const s = { address: safe, abi: safeAbi, ...at } as const;
    const t = { address: contracts.token, abi: governanceTokenAbi, ...at } as const;
    const [owners, threshold, balance, votes, delegate] = await Promise.all([
      publicClient.readContract({ ...s, functionName: "getOwners" }),
      publicClient.readContract({ ...s, functionName: "getThreshold" }),
      publicClient.readContract({ ...t, functionName: "balanceOf", args: [safe] }),
      publicClient.readContract({ ...t, functionName: "getVotes", args: [safe] }),
      publicClient.readContract({ ...t, functionName: "delegates", args: [safe] }),
    ]);
    return { owners, threshold, balance, votes, delegate };
  });
  const role = useChainQuery(["safe-signer-role", safe, connection.signer], () => safeSignerRole(connection, safe), {
    enabled: connection.signer !== undefined && info.data !== null,
  });

  return (
    <>
      <section className="card" aria-labelledby="safe-account-title">
        <h2 id="safe-account-title">The Safe</h2>
        <Loaded query={info} what="the Safe">
          {(i) =>
            i === null ? (
              <p className="notice notice-error">There is no contract at this address on this chain.</p>
            ) : (
              <dl className="kv" data-testid="acting-safe">
                <SafeOwners owners={i.owners} threshold={i.threshold} />
                <div>
                  <dt>Tokens</dt>
                  <dd data-testid="safe-balance">{formatTokens(i.balance)}</dd>
                </div>
                <div>
                  <dt>Voting power</dt>
                  <dd data-testid="safe-votes">{formatTokens(i.votes)}</dd>
                </div>
                <div>
                  <dt>Delegates to</dt>
                  <dd>
                    {i.delegate === "0x0000000000000000000000000000000000000000" ? (
                      "no one yet: its tokens do not vote"
                    ) : (
                      <AddressText address={i.delegate} />
                    )}
                  </dd>
                </div>
                <div>
                  <dt>You</dt>
                  <dd data-testid="safe-role">
                    {!wallet
                      ? "not connected"
                      : role.data?.kind === "owner"
                        ? "an owner: you sign for it"
                        : role.data?.kind === "ownerSafe"
                          ? `an owner of the Safe ${role.data.ownerSafe}, which owns it`
                          : role.data?.kind === "none"
                            ? "not an owner: you may execute what its owners signed"
                            : "…"}
                  </dd>
                </div>
              </dl>
            )
          }
        </Loaded>
      </section>
      {info.data ? (
        <section className="card" aria-labelledby="safe-act-title">
          <h2 id="safe-act-title">Act</h2>
          {pending ? (
            <SafeTransactionPanel safe={safe} pending={pending} onChange={setPending} errorsAbi={systemErrorsAbi} />
          ) : (
            <SafeActionBuilder safe={safe} chainId={config.chainId} onProposed={setPending} />
          )}
        </section>
      ) : null}
    </>
  );
}

type SafeActionBuilderProps = {
  safe: Address;
  chainId: number;
  onProposed: SafeAccountProps["setPending"];
};

/** Builds the Safe's delegation or vote, and signs it first when the connected account can. */
function SafeActionBuilder({ safe, onProposed }: SafeActionBuilderProps) {
  const { contracts } = useApp();
  const proposals = useProposals();
  const [action, setAction] = useState<"delegate" | "vote">("delegate");
  const [delegatee, setDelegatee] = useState("");
  const [proposalId, setProposalId] = useState("");
  const [support, setSupport] = useState<"1" | "0" | "2">("1");
  const [reason, setReason] = useState("");
  // Signing is the next step, as on the guardian page.
  const { proposing, error, propose } = useProposeSafeTransaction(safe, onProposed);
  const ids = { action: useId(), delegatee: useId(), proposal: useId(), support: useId(), reason: useId() };
  const active = (proposals.data ?? []).filter((p) => p.state === "active");
  const to = delegatee.trim() === "" ? safe : delegatee.trim();

  function call(): { to: Address; data: Hex; description: string } | undefined {
    if (action === "delegate") {
      if (!isAddress(to)) return undefined;
      return {
        to: contracts.token,
        data: encodeFunctionData({ abi: governanceTokenAbi, functionName: "delegate", args: [getAddress(to)] }),
        description:
          getAddress(to) === safe ? "The Safe delegates its votes to itself" : `The Safe delegates its votes to ${to}`,
      };
    }
    const proposal = active.find((p) => p.id.toString() === proposalId);
    if (!proposal) return undefined;
    const words = { "1": "for", "0": "against", "2": "abstaining on" }[support];
    return {
      to: contracts.governor,
      data: encodeFunctionData({
        abi: policyGovernorAbi,
        functionName: "castVoteWithReason",
        args: [proposal.id, Number(support), reason.trim()],
      }),
      description: `The Safe votes ${words} “${proposal.title}”${reason.trim() ? `: ${reason.trim()}` : ""}`,
    };
  }

  return (
    <>
      <div className="field">
        <label htmlFor={ids.action}>What the Safe does</label>
        <select id={ids.action} value={action} onChange={(e) => setAction(e.target.value as "delegate" | "vote")}>
          <option value="delegate">Delegate its votes</option>
          <option value="vote">Vote on a proposal</option>
        </select>
      </div>
      {action === "delegate" ? (
        <div className="field field-wide">
          <label htmlFor={ids.delegatee}>Delegate to (empty: the Safe itself, to vote directly)</label>
          <input
            id={ids.delegatee}
            value={delegatee}
            placeholder={safe}
            spellCheck={false}
            onChange={(e) => setDelegatee(e.target.value)}
          />
          {!isAddress(to) ? <p className="field-help">Not an address.</p> : null}
        </div>
      ) : (
        <>
          <div className="field">
            <label htmlFor={ids.proposal}>Proposal</label>
            <select id={ids.proposal} value={proposalId} onChange={(e) => setProposalId(e.target.value)}>
              <option value="">{active.length === 0 ? "no proposal is open for votes" : "choose…"}</option>
              {active.map((p) => (
                <option key={p.id.toString()} value={p.id.toString()}>
                  {p.title}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor={ids.support}>Vote</label>
            <select id={ids.support} value={support} onChange={(e) => setSupport(e.target.value as "1" | "0" | "2")}>
              <option value="1">For</option>
              <option value="0">Against</option>
              <option value="2">Abstain</option>
            </select>
          </div>
          <div className="field field-wide">
            <label htmlFor={ids.reason}>Reason (optional, public)</label>
            <input id={ids.reason} value={reason} onChange={(e) => setReason(e.target.value)} />
          </div>
        </>
      )}
      <button type="button" disabled={proposing || call() === undefined} onClick={() => void propose(call())}>
        Propose to the Safe's owners
      </button>
      {error ? <ErrorNotice error={error} title="Proposing failed" /> : null}
    </>
  );
}
