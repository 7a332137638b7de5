import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createFileRoute } from "@tanstack/react-router";
import { useId, useState } from "react";
import { bytesToHex, keccak256, parseEther, toHex, type Address } from "viem";
import { ErrorNotice } from "../components/ErrorNotice.tsx";
import { Loaded } from "../components/Loading.tsx";
import { TxStatus } from "../components/TxStatus.tsx";
import { policyRegistryAbi, usageSettlementAbi } from "../lib/abis.ts";
import { useApp } from "../lib/AppContext.tsx";
import { useChainHead, useChainQuery } from "../lib/ChainHead.tsx";
import { decodeError, type DecodedError } from "../lib/decodeError.ts";
import { formatEth, formatRelative, formatTime, plural, shortHex } from "../lib/format.ts";
import { usePolicy, useWorkerApi } from "../lib/queries.ts";
import { useWallet } from "../lib/WalletContext.tsx";
import { useWrite } from "../lib/useWrite.ts";
import type { QueryResponse } from "../lib/workerApi.ts";

export const Route = createFileRoute("/consume")({ component: ConsumePage });

function ConsumePage() {
  const { wallet } = useWallet();
  const { data: policy } = usePolicy();
  return (
    <section className="page" aria-labelledby="consume-title">
      <div className="page-head">
        <h1 id="consume-title">Query the AI</h1>
        <p className="lede">
          Consumers the DAO admitted send signed queries within their quota per epoch. The AI answers with a label and a
          coarse score only; each query's fee goes to the contributors.
        </p>
      </div>
      {policy?.killSwitch.engaged ? (
        <p className="notice notice-error" role="alert" data-testid="consume-kill-switch">
          The kill switch is engaged: the AI answers no query until a proposal lifts it.
        </p>
      ) : null}
      {wallet ? <Consumer account={wallet.address} /> : <p className="notice">Connect a wallet or pick an account.</p>}
    </section>
  );
}

function Consumer({ account }: { account: Address }) {
  const api = useWorkerApi();
  const { head } = useChainHead();
  const account_ = useChainQuery(["consumer", account], async ({ publicClient, contracts }, h) => {
    const [quota, fee, [deposit, pendingWithdrawal, unlocksAt]] = await Promise.all([
      publicClient.readContract({
        address: contracts.policyRegistry,
        abi: policyRegistryAbi,
        functionName: "quotaOf",
        args: [account],
        blockNumber: h.number,
      }),
      publicClient.readContract({
        address: contracts.policyRegistry,
        abi: policyRegistryAbi,
        functionName: "feePerQuery",
        blockNumber: h.number,
      }),
      publicClient.readContract({
        address: contracts.usageSettlement,
        abi: usageSettlementAbi,
        functionName: "accountOf",
        args: [account],
        blockNumber: h.number,
      }),
    ]);
    return { quota, fee, deposit, pendingWithdrawal, unlocksAt };
  });
  const usage = useQuery({
    queryKey: ["worker", "quota", account],
    queryFn: () => api!.quota(account),
    enabled: api !== null,
    refetchInterval: 2_000,
    retry: false,
  });
  const now = Number(head?.timestamp ?? 0n);

  return (
    <>
      <div className="card-grid">
        <section className="card" aria-labelledby="quota-title">
          <h2 id="quota-title">Your quota</h2>
          <Loaded query={account_} what="your quota">
            {(a) =>
              a.quota === 0n ? (
                <p data-testid="no-quota">
                  You have no quota: the DAO has not admitted this account as a consumer. A proposal can give it one.
                </p>
              ) : usage.data ? (
                <QuotaMeter
                  used={BigInt(usage.data.used)}
                  quota={BigInt(usage.data.share.queries)}
                  endsAt={usage.data.epochEndsAt}
                  epoch={usage.data.epoch}
                />
              ) : usage.isError ? (
                <ErrorNotice error={decodeError(usage.error)} title="The worker cannot tell your usage" />
              ) : (
                <p className="muted">{plural(a.quota, "query", "queries")} per epoch; reading your usage…</p>
              )
            }
          </Loaded>
        </section>
        <Deposit account={account} data={account_.data} now={now} />
      </div>
      {api ? <Ask account={account} /> : <p className="notice">No worker is configured, so no query can be sent.</p>}
    </>
  );
}

function QuotaMeter({ used, quota, endsAt, epoch }: { used: bigint; quota: bigint; endsAt: number; epoch: string }) {
  const remaining = quota > used ? quota - used : 0n;
  return (
    <div data-testid="quota-meter">
      <p className="stat-value">
        <span data-testid="queries-used">{used.toString()}</span> of {quota.toString()} used
      </p>
      <progress max={Number(quota)} value={Number(used)} aria-label="Queries used this epoch" />
      <p className="small">
        {plural(remaining, "query", "queries")} left in epoch {epoch}. The quota resets at {formatTime(endsAt)} (
        {formatRelative(endsAt, Math.floor(Date.now() / 1000))}).
      </p>
    </div>
  );
}

function Deposit({
  account,
  data,
  now,
}: {
  account: Address;
  data: { fee: bigint; deposit: bigint; pendingWithdrawal: bigint; unlocksAt: bigint } | undefined;
  now: number;
}) {
  const { contracts } = useApp();
  const tx = useWrite();
  const [amount, setAmount] = useState("0.01");
  const inputId = useId();
  const settlement = { address: contracts.usageSettlement, abi: usageSettlementAbi } as const;
  return (
    <section className="card" aria-labelledby="deposit-title">
      <h2 id="deposit-title">Deposit</h2>
      {data ? (
        <>
          <p>
            <strong data-testid="deposit">{formatEth(data.deposit)}</strong> deposited; the fee is {formatEth(data.fee)}{" "}
            per query
            {data.fee > 0n ? ` (enough for ${plural(data.deposit / data.fee, "query", "queries")})` : ""}.
          </p>
          {data.pendingWithdrawal > 0n ? (
            <p className="small">
              Withdrawal of {formatEth(data.pendingWithdrawal)} requested; it unlocks{" "}
              {formatRelative(data.unlocksAt, now)}.
            </p>
          ) : null}
        </>
      ) : null}
      <form
        className="inline-form"
        onSubmit={(event) => {
          event.preventDefault();
          let value: bigint;
          try {
            value = parseEther(amount);
          } catch {
            return;
          }
          void tx.write({ label: "Deposit", ...settlement, functionName: "deposit", args: [account], value });
        }}
      >
        <label htmlFor={inputId}>Amount (ETH)</label>
        <div className="input-row">
          <input id={inputId} value={amount} onChange={(e) => setAmount(e.target.value)} inputMode="decimal" />
          <button type="submit" disabled={tx.busy}>
            Deposit
          </button>
        </div>
      </form>
      {data && data.deposit > 0n ? (
        <div className="button-row">
          <button
            type="button"
            className="button-secondary"
            disabled={tx.busy}
            onClick={() =>
              void tx.write({
                label: "Request withdrawal",
                ...settlement,
                functionName: "requestWithdrawal",
                args: [data.deposit],
              })
            }
          >
            Request withdrawal of all
          </button>
          {data.pendingWithdrawal > 0n && data.unlocksAt <= BigInt(now) ? (
            <button
              type="button"
              className="button-secondary"
              disabled={tx.busy}
              onClick={() => void tx.write({ label: "Withdraw", ...settlement, functionName: "withdraw" })}
            >
              Withdraw
            </button>
          ) : null}
        </div>
      ) : null}
      <TxStatus state={tx.state} />
    </section>
  );
}

type Answered = { input: string; response: QueryResponse; at: number };

function Ask({ account }: { account: Address }) {
  const api = useWorkerApi()!;
  const { wallet } = useWallet();
  const { data: policy } = usePolicy();
  const queryClient = useQueryClient();
  const [input, setInput] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<DecodedError | null>(null);
  const [answers, setAnswers] = useState<Answered[]>([]);
  const inputId = useId();
  const killed = policy?.killSwitch.engaged ?? false;

  async function ask() {
    if (!wallet || input.trim() === "") return;
    setBusy(true);
    setError(null);
    try {
      const [{ query }, usage] = await Promise.all([api.eip712(), api.quota(account)]);
      const nonce = BigInt(bytesToHex(crypto.getRandomValues(new Uint8Array(8))));
      // The worker counts epochs and deadlines by its own clock: sign for its current epoch.
      const epoch = BigInt(usage.epoch);
      const deadline = Math.floor(Date.now() / 1000) + 300;
      const signature = await wallet.client.signTypedData({
        account: wallet.client.account,
        domain: query.domain,
        types: query.types,
        primaryType: query.primaryType,
        message: { consumer: account, inputHash: keccak256(toHex(input)), nonce, epoch, deadline: BigInt(deadline) },
      } as never);
      const response = await api.query({
        consumer: account,
        input,
        nonce: nonce.toString(),
        epoch: epoch.toString(),
        deadline,
        signature,
      });
      setAnswers((list) => [{ input, response, at: Date.now() }, ...list]);
    } catch (cause) {
      setError(decodeError(cause));
    } finally {
      setBusy(false);
      void queryClient.invalidateQueries({ queryKey: ["worker", "quota"] });
    }
  }

  return (
    <section className="card" aria-labelledby="ask-title">
      <h2 id="ask-title">Ask</h2>
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
        <button type="submit" disabled={busy || killed || !wallet || input.trim() === ""}>
          {busy ? "Asking…" : "Sign and ask"}
        </button>
        <p className="small muted">
          Your wallet signs the query (its hash, a nonce, the epoch and a deadline); nothing is sent on chain.
        </p>
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
                {a.response.usage.used} of {a.response.usage.share.queries} used in epoch {a.response.usage.epoch} ·
                receipt signed by worker <code>{shortHex(a.response.receipt.worker, 4)}</code>
              </p>
            </li>
          ))}
        </ol>
      ) : null}
    </section>
  );
}
