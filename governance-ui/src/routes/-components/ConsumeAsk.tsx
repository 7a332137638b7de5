import { usageDomain, usageTypes } from "@dao-ai/pipeline-worker/eip712";
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useId, useState } from "react";
import { keccak256, toHex, zeroAddress, type Address } from "viem";
import { ErrorNotice } from "../../components/ErrorNotice.tsx";
import { useApp } from "../../lib/AppContext.tsx";
import type { QueryResponse, QuotaStatus } from "@dao-ai/pipeline-worker/consumer-api";
import type { ConsumeApi } from "../../lib/consumeApi.ts";
import { authorizeKey } from "../../lib/consumeGrant.ts";
import {
  forgetSessionKey,
  loadSessionKey,
  saveSessionKey,
  type SessionKey,
  type SessionKeyScope,
} from "../../lib/consumeSessionKey.ts";
import { decodeError, type DecodedError } from "../../lib/decodeError.ts";
import { formatEth, formatRelative, plural, shortHex } from "../../lib/format.ts";
import { useWallet } from "../../lib/WalletContext.tsx";

type Mode = "session" | "wallet";
type Answered = { input: string; response: QueryResponse; at: number; mode: Mode };

/** Refusals after which the tab's key can never be used again: it is dropped, and a new one offered. */
const DEAD_KEY_CODES = new Set(["KEY_REVOKED", "KEY_EXPIRED", "KEY_UNKNOWN", "KEY_CAP_REACHED"]);

/** Seconds a signed question stays valid at the worker: long enough for a slow wallet prompt. */
const SIGNED_QUERY_TTL_SECONDS = 300;

/**
 * Asking the AI, two ways. With a session key: one wallet signature authorises a key with a cap,
 * a maximum fee and an expiry, the tab keeps its secret (consumeSessionKey.ts says where and why)
 * and asks with `Authorization: Bearer`, so questions need no prompt. With the wallet: each question
 * carries a Usage voucher the wallet signs, over the lane's next total from GET /v1/quota, so the
 * worker can charge nothing the consumer did not sign for.
 */
export function ConsumeAsk({
  account,
  consumeApi,
  quota,
  killed,
}: {
  account: Address;
  consumeApi: ConsumeApi;
  quota: QuotaStatus;
  killed: boolean;
}) {
  const { chain, contracts } = useApp();
  const { wallet } = useWallet();
  const queryClient = useQueryClient();
  const scope: SessionKeyScope = {
    chainId: chain.id,
    usageSettlement: contracts.usageSettlement,
    worker: quota.worker,
    consumer: account,
  };
  const scopeId = JSON.stringify(scope);
  const [mode, setMode] = useState<Mode>("session");
  const [sessionKey, setSessionKey] = useState<SessionKey | null>(null);
  const [input, setInput] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<DecodedError | null>(null);
  const [answers, setAnswers] = useState<Answered[]>([]);
  const inputId = useId();

  useEffect(() => {
    setSessionKey(loadSessionKey(JSON.parse(scopeId) as SessionKeyScope, Math.floor(Date.now() / 1000)));
  }, [scopeId]);

  async function ask() {
    if (!wallet || input.trim() === "") return;
    setBusy(true);
    setError(null);
    try {
      let response: QueryResponse;
      if (mode === "session") {
        if (!sessionKey) return;
        response = await consumeApi.askWithKey(sessionKey.token, input);
      } else {
        // Sign for the worker's current epoch and the lane's next total, as the worker counts them.
        const now = await consumeApi.quota(account);
        const voucher = {
          consumer: account,
          key: zeroAddress,
          worker: now.worker,
          epoch: BigInt(now.epoch),
          total: BigInt(now.nextTotal),
          maxFeePerQuery: BigInt(now.feePerQuery),
          inputHash: keccak256(toHex(input)),
          deadline: BigInt(Math.floor(Date.now() / 1000) + SIGNED_QUERY_TTL_SECONDS),
        };
        const signature = await wallet.client.signTypedData({
          account: wallet.client.account,
          domain: usageDomain(chain.id, contracts.usageSettlement),
          types: usageTypes,
          primaryType: "Usage",
          message: voucher,
        });
        response = await consumeApi.askSigned({
          consumer: account,
          input,
          epoch: voucher.epoch.toString(),
          total: voucher.total.toString(),
          maxFeePerQuery: voucher.maxFeePerQuery.toString(),
          deadline: Number(voucher.deadline),
          signature,
        });
      }
      setAnswers((list) => [{ input, response, at: Date.now(), mode }, ...list]);
    } catch (cause) {
      const decoded = decodeError(cause);
      setError(decoded);
      if (mode === "session" && DEAD_KEY_CODES.has(decoded.name)) {
        forgetSessionKey(scope);
        setSessionKey(null);
      }
    } finally {
      setBusy(false);
      void queryClient.invalidateQueries({ queryKey: ["worker"] });
    }
  }

  const ready = mode === "wallet" || sessionKey !== null;
  return (
    <section className="card" aria-labelledby="ask-title">
      <h2 id="ask-title">Ask</h2>
      <fieldset className="mode-choice">
        <legend>How questions are paid for</legend>
        <label>
          <input type="radio" name="ask-mode" checked={mode === "session"} onChange={() => setMode("session")} /> With a
          session key: sign once, then ask with no wallet prompt
        </label>
        <label>
          <input type="radio" name="ask-mode" checked={mode === "wallet"} onChange={() => setMode("wallet")} /> Sign
          each question with my wallet
        </label>
      </fieldset>
      {mode === "session" ? (
        sessionKey ? (
          <SessionKeySummary
            sessionKey={sessionKey}
            onForget={() => {
              forgetSessionKey(scope);
              setSessionKey(null);
            }}
          />
        ) : (
          <AuthorizeSessionKey
            consumeApi={consumeApi}
            quota={quota}
            onAuthorized={(key) => {
              saveSessionKey(scope, key);
              setSessionKey(key);
              setError(null);
            }}
          />
        )
      ) : (
        <p className="small muted">
          Your wallet signs each question: its hash, this worker, the epoch, the lane's running total ({quota.nextTotal}{" "}
          next) and a fee of at most {formatEth(BigInt(quota.feePerQuery))}. Nothing is sent on chain.
        </p>
      )}
      <form
        onSubmit={(event) => {
          event.preventDefault();
          void ask();
        }}
      >
        <div className="field field-wide">
          <label htmlFor={inputId}>Your query</label>
          <textarea
            id={inputId}
            rows={3}
            value={input}
            onChange={(e) => setInput(e.target.value)}
            placeholder="URGENT: verify your wallet seed phrase to claim your prize"
          />
        </div>
        <button type="submit" disabled={busy || killed || !wallet || !ready || input.trim() === ""}>
          {busy ? "Asking…" : mode === "session" ? "Ask" : "Sign and ask"}
        </button>
      </form>
      {error ? <ErrorNotice error={error} title="The query was refused" /> : null}
      {answers.length > 0 ? (
        <ol className="answers" data-testid="answers">
          {answers.map((a) => (
            <li key={a.at} className="answer card-inner">
              <p className="answer-input">“{a.input}”</p>
              <p className="answer-result">
                <span className="answer-label" data-testid="answer-label">
                  {a.response.answer.label}
                </span>{" "}
                <span className={`score score-${a.response.answer.score}`}>{a.response.answer.score} confidence</span>
              </p>
              <p className="small muted">
                {a.response.usage.used} of {a.response.usage.share.queries} used in epoch {a.response.usage.epoch} ·{" "}
                {a.mode === "session" ? "asked with the session key" : "signed by your wallet"} · receipt signed by
                worker <code>{shortHex(a.response.receipt.worker, 4)}</code>
              </p>
            </li>
          ))}
        </ol>
      ) : null}
    </section>
  );
}

function SessionKeySummary({ sessionKey, onForget }: { sessionKey: SessionKey; onForget: () => void }) {
  const now = Math.floor(Date.now() / 1000);
  return (
    <div className="notice" data-testid="session-key">
      <p>
        This tab asks with session key <code title={sessionKey.address}>{shortHex(sessionKey.address, 4)}</code>: up to{" "}
        {plural(BigInt(sessionKey.maxQueries), "query", "queries")} at most{" "}
        {formatEth(BigInt(sessionKey.maxFeePerQuery))} each, expiring {formatRelative(sessionKey.expiresAt, now)}. Its
        use shows under API keys, where it can be revoked.
      </p>
      <button type="button" className="button-secondary" onClick={onForget}>
        Forget it in this tab
      </button>
    </div>
  );
}

function AuthorizeSessionKey({
  consumeApi,
  quota,
  onAuthorized,
}: {
  consumeApi: ConsumeApi;
  quota: QuotaStatus;
  onAuthorized: (key: SessionKey) => void;
}) {
  const { chain, contracts } = useApp();
  const { wallet } = useWallet();
  const [maxQueries, setMaxQueries] = useState("20");
  const [hours, setHours] = useState("8");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<DecodedError | null>(null);
  const queriesId = useId();
  const hoursId = useId();
  const fee = BigInt(quota.feePerQuery);

  async function authorize() {
    if (!wallet) return;
    setError(null);
    const queries = /^[1-9][0-9]{0,9}$/.test(maxQueries.trim()) ? BigInt(maxQueries.trim()) : null;
    const lifetime = Number(hours);
    if (queries === null || !Number.isFinite(lifetime) || lifetime <= 0 || lifetime > 24 * 30) {
      setError({
        name: "InvalidBounds",
        meaning: "Give a whole number of queries above zero and a lifetime between a few minutes and 720 hours.",
        args: [],
      });
      return;
    }
    setBusy(true);
    try {
      const expiresAt = Math.floor(Date.now() / 1000 + lifetime * 3600);
      const key = await authorizeKey({
        wallet,
        consumeApi,
        chainId: chain.id,
        usageSettlement: contracts.usageSettlement,
        bounds: { worker: quota.worker, maxQueries: queries, maxFeePerQuery: fee, expiresAt: BigInt(expiresAt) },
      });
      onAuthorized({
        token: key.token,
        address: key.address,
        maxQueries: queries.toString(),
        maxFeePerQuery: fee.toString(),
        expiresAt,
      });
    } catch (cause) {
      setError(decodeError(cause));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form
      data-testid="authorize-session"
      onSubmit={(event) => {
        event.preventDefault();
        void authorize();
      }}
    >
      <p className="small">
        Your wallet signs one grant for a key that this tab keeps until it closes: this worker only, at most{" "}
        {formatEth(fee)} per query (the fee now), and the bounds below. A leaked key can spend no more than its cap:{" "}
        {/^[1-9][0-9]{0,9}$/.test(maxQueries.trim())
          ? formatEth(BigInt(maxQueries.trim()) * fee)
          : "(give a number of queries)"}
        .
      </p>
      <div className="form-grid">
        <div className="field">
          <label htmlFor={queriesId}>Session queries</label>
          <input
            id={queriesId}
            value={maxQueries}
            onChange={(e) => setMaxQueries(e.target.value)}
            inputMode="numeric"
          />
        </div>
        <div className="field">
          <label htmlFor={hoursId}>Hours</label>
          <input id={hoursId} value={hours} onChange={(e) => setHours(e.target.value)} inputMode="decimal" />
        </div>
      </div>
      <div className="button-row">
        <button type="submit" disabled={busy || !wallet}>
          {busy ? "Waiting for your signature…" : "Authorise a session key"}
        </button>
      </div>
      {error ? <ErrorNotice error={error} title="The session key was not authorised" /> : null}
    </form>
  );
}
