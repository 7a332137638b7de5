import {
  BaseError,
  executeSafeTransaction,
  mergePendingSafeTransactions,
  parsePendingSafeTransaction,
  safeSignerRole,
  safeTransactionStatus,
  serialisePendingSafeTransaction,
  signSafeTransaction,
  type PendingSafeTransaction,
  type SafeConnection,
} from "@dao-ai/pipeline-worker/safe";
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useId, useMemo, useState } from "react";
import { isAddressEqual, type Abi, type Address } from "viem";
import { useApp } from "../lib/AppContext.tsx";
import { useChainQuery } from "../lib/ChainHead.tsx";
import { decodeError, type DecodedError } from "../lib/decodeError.ts";
import { shortHex } from "../lib/format.ts";
import { createSafeConnection } from "../lib/safeConnection.ts";
import type { TxState } from "../lib/useWrite.ts";
import { useWallet } from "../lib/WalletContext.tsx";
import { AddressText } from "./AddressText.tsx";
import { ErrorNotice } from "./ErrorNotice.tsx";
import { TxStatus } from "./TxStatus.tsx";

/** protocol-kit's connection for the page: reads from the app's chain, signs with the connected wallet. */
export function useSafeConnection(): SafeConnection {
  const { publicClient, config } = useApp();
  const { wallet } = useWallet();
  // Right after a switch of account the client may still be the previous account's: sign with
  // nothing rather than with the wrong account.
  const client = wallet && isAddressEqual(wallet.client.account.address, wallet.address) ? wallet.client : undefined;
  return useMemo(
    () =>
      createSafeConnection({
        publicClient,
        walletClient: client,
        chainId: config.chainId,
        safeContracts: config.safeContracts,
      }),
    [publicClient, client, config.chainId, config.safeContracts],
  );
}

/** An error from the Safe module or the wallet, as the app shows errors. */
export function describeSafeError(cause: unknown): DecodedError {
  if (cause instanceof BaseError) {
    const underneath = cause.walk((e) => !(e instanceof BaseError));
    // A wallet's refusal or a revert underneath says more than our wrapper.
    if (underneath instanceof Error && underneath.name !== "Error") return decodeError(underneath);
    return { name: "SafeTransactionRefused", meaning: [cause.shortMessage, ...cause.hints].join(" "), args: [] };
  }
  return decodeError(cause);
}

/** Where this browser keeps a Safe's transaction in progress. */
export const pendingStorageKey = (safe: Address) => `dao-ai.safe-tx.${safe.toLowerCase()}`;

/**
 * The transaction being gathered for a Safe, kept in this browser between visits (as the CLI keeps
 * its files in a folder) until it is executed or discarded.
 */
export function usePendingSafeTransaction(safe: Address | undefined) {
  const [pending, setPending] = useState<PendingSafeTransaction | null>(null);
  useEffect(() => {
    if (!safe) return setPending(null);
    try {
      const text = localStorage.getItem(pendingStorageKey(safe));
      setPending(text ? parsePendingSafeTransaction(text) : null);
    } catch {
      setPending(null);
    }
  }, [safe]);
  const update = (next: PendingSafeTransaction | null) => {
    setPending(next);
    if (!safe) return;
    if (next) localStorage.setItem(pendingStorageKey(safe), serialisePendingSafeTransaction(next));
    else localStorage.removeItem(pendingStorageKey(safe));
  };
  return [pending, update] as const;
}

export type SafeTransactionPanelProps = {
  safe: Address;
  pending: PendingSafeTransaction;
  onChange(next: PendingSafeTransaction | null): void;
  /** Errors of the contracts the Safe calls, to say why a call would fail before it is sent. */
  errorsAbi: Abi;
  hintsFor?: (errorName: string) => string[];
};

/** A pending Safe transaction: who signed, sign as the connected owner, execute, export. */
export function SafeTransactionPanel({ safe, pending, onChange, errorsAbi, hintsFor }: SafeTransactionPanelProps) {
  const connection = useSafeConnection();
  const { publicClient } = useApp();
  const { wallet } = useWallet();
  const queryClient = useQueryClient();
  const [busy, setBusy] = useState<"sign" | "execute" | null>(null);
  const [execution, setExecution] = useState<TxState>({ status: "idle" });
  const [error, setError] = useState<DecodedError | null>(null);
  const signatures = pending.signatures.length + pending.ownerSafeSignatures.length;
  const status = useChainQuery(
    ["safe-tx-status", pending.safeTxHash, signatures, pending.executed?.transactionHash],
    () => safeTransactionStatus(connection, pending),
  );
  const role = useChainQuery(["safe-signer-role", safe, connection.signer], () => safeSignerRole(connection, safe), {
    enabled: connection.signer !== undefined,
  });
  const s = status.data;
  const r = role.data;
  const hasSigned =
    r?.kind === "owner"
      ? pending.signatures.some((x) => isAddressEqual(x.signer, r.account))
      : r?.kind === "ownerSafe"
        ? pending.signatures.some((x) => isAddressEqual(x.signer, r.ownerSafe)) ||
          pending.ownerSafeSignatures.some((x) => isAddressEqual(x.signer, r.account))
        : false;

  async function sign() {
    setBusy("sign");
    setError(null);
    try {
      onChange(await signSafeTransaction(connection, pending));
    } catch (cause) {
      setError(describeSafeError(cause));
    } finally {
      setBusy(null);
    }
  }

  async function execute() {
    const label = "Execute the Safe transaction";
    setBusy("execute");
    setError(null);
    setExecution({ status: "signing", label });
    try {
      const executed = await executeSafeTransaction({
        connection,
        pending,
        errorsAbi,
        ...(hintsFor ? { hintsFor } : {}),
      });
      const hash = executed.executed!.transactionHash;
      const { blockNumber } = await publicClient.getTransactionReceipt({ hash });
      setExecution({ status: "confirmed", label, hash, blockNumber });
      onChange(executed);
      void queryClient.invalidateQueries();
    } catch (cause) {
      setExecution({ status: "failed", label, error: describeSafeError(cause) });
    } finally {
      setBusy(null);
    }
  }

  function download() {
    const blob = new Blob([serialisePendingSafeTransaction(pending)], { type: "application/json" });
    const url = URL.createObjectURL(blob);
    const a = document.createElement("a");
    a.href = url;
    a.download = `${pending.safeTxHash}.json`;
    a.click();
    URL.revokeObjectURL(url);
  }

  return (
    <div className="safe-transaction" data-testid="safe-pending">
      <p>
        <strong>{pending.description}</strong>
      </p>
      <p className="small muted">
        Safe transaction {shortHex(pending.safeTxHash)}, nonce {pending.transaction.nonce}
        {s?.stale && !pending.executed ? " — already executed or replaced: discard it." : ""}
      </p>
      {pending.executed ? (
        <p className="notice notice-ok" data-testid="safe-executed">
          Executed in transaction {shortHex(pending.executed.transactionHash)} by{" "}
          <AddressText address={pending.executed.by} />.
        </p>
      ) : null}
      <p data-testid="safe-signatures">
        {s ? `${s.confirmations} of ${s.threshold} signatures` : `${pending.signatures.length} signatures`}
        {pending.signatures.length > 0 ? (
          <>
            {" "}
            (
            {pending.signatures.map((x, i) => (
              <span key={x.signer}>
                {i > 0 ? ", " : ""}
                <AddressText address={x.signer} />
                {x.contract ? " (a Safe, by its owners)" : ""}
              </span>
            ))}
            )
          </>
        ) : null}
      </p>
      {s && s.approvedOnChain.length > 0 ? (
        <p className="small">
          Approved on chain by {s.approvedOnChain.map((a) => shortHex(a)).join(", ")} (counted when it executes).
        </p>
      ) : null}
      {s?.ownerSafesSigning.map((o) => (
        <p key={o.ownerSafe} className="small" data-testid="owner-safe-progress">
          The owner Safe <AddressText address={o.ownerSafe} /> has {o.signed.length} of the {o.threshold} signatures of
          its own owners it needs to sign.
        </p>
      ))}
      {!pending.executed && !s?.stale ? (
        <div className="button-row">
          {!wallet ? (
            <p className="muted small">Connect an owner's account to sign.</p>
          ) : r?.kind === "none" ? (
            <p className="muted small">
              The connected account is not an owner of this Safe, nor of a Safe that owns it: it may execute once enough
              owners have signed.
            </p>
          ) : r ? (
            <button type="button" disabled={hasSigned || busy !== null} onClick={() => void sign()}>
              {hasSigned
                ? "You have signed"
                : r.kind === "owner"
                  ? "Sign as owner"
                  : `Sign for the owner Safe ${shortHex(r.ownerSafe)}`}
            </button>
          ) : null}
          <button
            type="button"
            className="button-danger"
            disabled={!s?.ready || !wallet || busy !== null}
            onClick={() => void execute()}
          >
            {busy === "execute" ? "Executing…" : "Execute the Safe transaction"}
          </button>
        </div>
      ) : null}
      <TxStatus state={execution} />
      {error ? <ErrorNotice error={error} title="Signing failed" /> : null}
      <div className="button-row">
        <button type="button" className="button-secondary" onClick={download}>
          Export file
        </button>
        <button type="button" className="button-link" onClick={() => onChange(null)}>
          {pending.executed ? "Clear" : "Discard"}
        </button>
      </div>
      <details>
        <summary>The file, to copy</summary>
        <p className="small">
          The same file <code>npm run guardian</code> reads and writes: the transaction and the signatures so far,
          nothing secret.
        </p>
        <textarea
          aria-label="Pending transaction file"
          readOnly
          rows={6}
          value={serialisePendingSafeTransaction(pending)}
        />
      </details>
    </div>
  );
}

export type ImportSafeTransactionProps = {
  /** The transaction in progress, whose signatures an imported copy adds to. */
  current: PendingSafeTransaction | null;
  /** Refuses files for another Safe or chain with a reason, or accepts them. */
  check(pending: PendingSafeTransaction): string | null;
  onImport(pending: PendingSafeTransaction): void;
};

/** Takes a pending transaction file from the CLI or another owner: picked from disk, or pasted. */
export function ImportSafeTransaction({ current, check, onImport }: ImportSafeTransactionProps) {
  const fileId = useId();
  const pasteId = useId();
  const [pasted, setPasted] = useState("");
  const [error, setError] = useState<DecodedError | null>(null);

  function take(text: string) {
    try {
      const imported = parsePendingSafeTransaction(text);
      const refused = check(imported);
      if (refused) throw new BaseError(refused);
      onImport(
        current && current.safeTxHash.toLowerCase() === imported.safeTxHash.toLowerCase()
          ? mergePendingSafeTransactions(current, imported)
          : imported,
      );
      setPasted("");
      setError(null);
    } catch (cause) {
      setError(describeSafeError(cause));
    }
  }

  return (
    <details className="safe-import">
      <summary>
        Import a pending transaction (from <code>npm run guardian</code> or another owner)
      </summary>
      <div className="field">
        <label htmlFor={fileId}>Import a file</label>
        <input
          id={fileId}
          type="file"
          accept="application/json,.json"
          onChange={(e) => {
            const file = e.target.files?.[0];
            if (file) void file.text().then(take);
            e.target.value = "";
          }}
        />
      </div>
      <div className="field field-wide">
        <label htmlFor={pasteId}>Or paste it</label>
        <textarea id={pasteId} rows={4} value={pasted} onChange={(e) => setPasted(e.target.value)} />
      </div>
      <button type="button" className="button-secondary" disabled={pasted.trim() === ""} onClick={() => take(pasted)}>
        Import
      </button>
      {error ? <ErrorNotice error={error} title="Import refused" /> : null}
    </details>
  );
}
