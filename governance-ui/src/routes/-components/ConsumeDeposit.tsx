import { useId, useState } from "react";
import { formatEther, parseEther, type Address } from "viem";
import { TxStatus } from "../../components/TxStatus.tsx";
import { usageSettlementAbi } from "../../lib/abis.ts";
import { useApp } from "../../lib/AppContext.tsx";
import { formatEth, formatRelative, formatTime, plural } from "../../lib/format.ts";
import { useWrite } from "../../lib/useWrite.ts";

type ConsumerAccount = {
  /** The policy's fee per query now, in wei. */
  fee: bigint;
  deposit: bigint;
  pendingWithdrawal: bigint;
  /** Unix seconds; 0 when no withdrawal is requested. */
  unlocksAt: bigint;
};

/**
 * The consumer's deposit as the settlement contract and the worker see it: a requested withdrawal
 * is no longer spendable at once (workers refuse to serve against it), though it stays in the
 * contract until it unlocks, so that queries served before the request can still be settled; and
 * queries served but not settled yet are owed out of what remains.
 */
export function ConsumeDeposit({
  account,
  data,
  owedQueries,
  now,
}: {
  account: Address;
  data: ConsumerAccount | undefined;
  /** Queries served and not settled yet (the usage history's charged above settled); undefined: unknown. */
  owedQueries: bigint | undefined;
  now: number;
}) {
  const { contracts } = useApp();
  const tx = useWrite();
  const [amount, setAmount] = useState("0.01");
  const [withdrawal, setWithdrawal] = useState("");
  const [invalid, setInvalid] = useState<string | null>(null);
  const depositId = useId();
  const withdrawalId = useId();
  const settlement = { address: contracts.usageSettlement, abi: usageSettlementAbi } as const;
  const pending = data ? (data.pendingWithdrawal < data.deposit ? data.pendingWithdrawal : data.deposit) : 0n;
  // At the fee now: each lane is charged at most the fee its vouchers or grant signed.
  const owed = data && owedQueries !== undefined ? owedQueries * data.fee : 0n;
  const free = data ? data.deposit - pending : 0n;
  const spendable = free > owed ? free - owed : 0n;
  const unlocked = data !== undefined && data.pendingWithdrawal > 0n && data.unlocksAt <= BigInt(now);

  /** Parses an ETH amount typed by the person; says what is wrong instead of sending nothing silently. */
  function ether(text: string): bigint | null {
    try {
      const value = parseEther(text.trim());
      if (value > 0n) {
        setInvalid(null);
        return value;
      }
    } catch {
      // Reported below.
    }
    setInvalid(`“${text}” is not an amount of ETH above zero (for example 0.01).`);
    return null;
  }

  return (
    <section className="card" aria-labelledby="deposit-title">
      <h2 id="deposit-title">Deposit</h2>
      {data ? (
        <dl className="kv" data-testid="deposit-state">
          <div>
            <dt>Spendable</dt>
            <dd>
              <strong data-testid="deposit">{formatEth(spendable)}</strong>
              {data.fee > 0n
                ? ` (${plural(spendable / data.fee, "query", "queries")} at ${formatEth(data.fee)} each)`
                : " (queries are free now)"}
            </dd>
          </div>
          {owed > 0n ? (
            <div>
              <dt>Owed</dt>
              <dd data-testid="owed">
                {formatEth(owed)} for {plural(owedQueries!, "query", "queries")} served and not settled yet
              </dd>
            </div>
          ) : null}
          {data.pendingWithdrawal > 0n ? (
            <div>
              <dt>Withdrawal requested</dt>
              <dd data-testid="pending-withdrawal">
                {formatEth(pending)}, no longer spendable;{" "}
                {unlocked
                  ? "unlocked: withdraw it now."
                  : `unlocks at ${formatTime(data.unlocksAt)} (${formatRelative(data.unlocksAt, now)}), once the last settlement window that can charge earlier queries has closed.`}
              </dd>
            </div>
          ) : null}
          <div>
            <dt>In the contract</dt>
            <dd>{formatEth(data.deposit)}</dd>
          </div>
        </dl>
      ) : null}
      <form
        className="inline-form"
        onSubmit={(event) => {
          event.preventDefault();
          const value = ether(amount);
          if (value !== null)
            void tx.write({ label: "Deposit", ...settlement, functionName: "deposit", args: [account], value });
        }}
      >
        <label htmlFor={depositId}>Amount (ETH)</label>
        <div className="input-row">
          <input id={depositId} value={amount} onChange={(e) => setAmount(e.target.value)} inputMode="decimal" />
          <button type="submit" disabled={tx.busy}>
            Deposit
          </button>
        </div>
      </form>
      {data && data.deposit > 0n ? (
        <form
          className="inline-form"
          onSubmit={(event) => {
            event.preventDefault();
            const value = withdrawal.trim() === "" ? data.deposit : ether(withdrawal);
            if (value === null) return;
            void tx.write({
              label: "Request withdrawal",
              ...settlement,
              functionName: "requestWithdrawal",
              args: [value],
            });
          }}
        >
          <label htmlFor={withdrawalId}>Withdraw (ETH; empty: all)</label>
          <div className="input-row">
            <input
              id={withdrawalId}
              value={withdrawal}
              placeholder={formatEther(data.deposit)}
              onChange={(e) => setWithdrawal(e.target.value)}
              inputMode="decimal"
            />
            <button type="submit" className="button-secondary" disabled={tx.busy}>
              Request withdrawal
            </button>
          </div>
          <p className="small muted">A new request replaces the one pending and starts its wait again.</p>
        </form>
      ) : null}
      {unlocked ? (
        <div className="button-row">
          <button
            type="button"
            disabled={tx.busy}
            onClick={() => void tx.write({ label: "Withdraw", ...settlement, functionName: "withdraw" })}
          >
            Withdraw {formatEth(pending)}
          </button>
        </div>
      ) : null}
      {invalid ? (
        <p className="notice notice-error" role="alert">
          {invalid}
        </p>
      ) : null}
      <TxStatus state={tx.state} />
    </section>
  );
}
