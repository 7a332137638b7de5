import { createFileRoute } from "@tanstack/react-router";
import { useId, useState } from "react";
import { getAbiItem, getAddress, isAddress, zeroAddress, type AbiEvent, type Address } from "viem";
import { AddressText } from "../components/AddressText.tsx";
import { Loaded } from "../components/Loading.tsx";
import { TxStatus } from "../components/TxStatus.tsx";
import { governanceTokenAbi } from "../lib/abis.ts";
import { useApp } from "../lib/AppContext.tsx";
import { useChainQuery } from "../lib/ChainHead.tsx";
import { formatTokens, percent } from "../lib/format.ts";
import { useVotingPower } from "../lib/queries.ts";
import { useWallet } from "../lib/WalletContext.tsx";
import { useWrite } from "../lib/useWrite.ts";

export const Route = createFileRoute("/delegate")({ component: DelegatePage });

const delegateVotesChanged = getAbiItem({ abi: governanceTokenAbi, name: "DelegateVotesChanged" }) as AbiEvent;

function DelegatePage() {
  const { wallet } = useWallet();
  return (
    <section className="page" aria-labelledby="delegate-title">
      <div className="page-head">
        <h1 id="delegate-title">Delegation</h1>
        <p className="lede">
          Tokens vote only once delegated: to yourself to vote directly, or to someone you trust. Voting power is
          counted at each proposal's snapshot, so delegate before a proposal is made.
        </p>
      </div>
      {wallet ? <YourPower account={wallet.address} /> : <p className="notice">Connect a wallet or pick an account.</p>}
      <TopDelegates />
    </section>
  );
}

function YourPower({ account }: { account: Address }) {
  const power = useVotingPower(account);
  const { contracts } = useApp();
  const tx = useWrite();
  const [to, setTo] = useState("");
  const [error, setError] = useState<string | null>(null);
  const inputId = useId();
  const delegate = (delegatee: Address, label: string) =>
    void tx.write({
      label,
      address: contracts.token,
      abi: governanceTokenAbi,
      functionName: "delegate",
      args: [delegatee],
    });

  return (
    <Loaded query={power} what="your voting power">
      {(p) => {
        const self = p.delegate.toLowerCase() === account.toLowerCase();
        return (
          <div className="card-grid">
            <section className="card" aria-labelledby="power-title">
              <h2 id="power-title">Your voting power</h2>
              <div className="stat-row">
                <div className="stat">
                  <span className="stat-label">Tokens</span>
                  <span className="stat-value" data-testid="token-balance">
                    {formatTokens(p.balance)} {p.symbol}
                  </span>
                </div>
                <div className="stat">
                  <span className="stat-label">Votes</span>
                  <span className="stat-value" data-testid="votes">
                    {formatTokens(p.votes)}
                  </span>
                  <span className="stat-note">{percent(p.votes, p.totalSupply)}% of the supply</span>
                </div>
              </div>
              <p data-testid="current-delegate">
                {p.delegate === zeroAddress ? (
                  "Your tokens are not delegated: they do not vote."
                ) : self ? (
                  "You delegate to yourself."
                ) : (
                  <>
                    You delegate to <AddressText address={p.delegate} />.
                  </>
                )}
              </p>
            </section>
            <section className="card" aria-labelledby="change-title">
              <h2 id="change-title">Delegate</h2>
              <button
                type="button"
                disabled={tx.busy || self || p.balance === 0n}
                onClick={() => delegate(account, "Delegate to yourself")}
              >
                Delegate to myself
              </button>
              <form
                className="inline-form"
                onSubmit={(event) => {
                  event.preventDefault();
                  if (!isAddress(to.trim())) {
                    setError("Enter the address to delegate to.");
                    return;
                  }
                  setError(null);
                  delegate(getAddress(to.trim()), "Delegate");
                }}
              >
                <label htmlFor={inputId}>Or delegate to</label>
                <div className="input-row">
                  <input
                    id={inputId}
                    value={to}
                    onChange={(e) => setTo(e.target.value)}
                    placeholder="0x…"
                    spellCheck={false}
                    aria-invalid={error ? true : undefined}
                  />
                  <button type="submit" className="button-secondary" disabled={tx.busy}>
                    Delegate
                  </button>
                </div>
                {error ? (
                  <p className="field-error" role="alert">
                    {error}
                  </p>
                ) : null}
              </form>
              <TxStatus state={tx.state} />
            </section>
          </div>
        );
      }}
    </Loaded>
  );
}

function TopDelegates() {
  const delegates = useChainQuery(["delegates"], async ({ logCache, contracts, publicClient }, head) => {
    const [logs, totalSupply] = await Promise.all([
      logCache.logs(contracts.token, [delegateVotesChanged], head.number),
      publicClient.readContract({
        address: contracts.token,
        abi: governanceTokenAbi,
        functionName: "totalSupply",
        blockNumber: head.number,
      }),
    ]);
    const votes = new Map<Address, bigint>();
    for (const log of logs) votes.set(log.args.delegate as Address, log.args.newVotes as bigint);
    const list = [...votes].filter(([, v]) => v > 0n).sort(([, a], [, b]) => (b > a ? 1 : b < a ? -1 : 0));
    return { list, totalSupply };
  });
  return (
    <section className="card" aria-labelledby="delegates-title">
      <h2 id="delegates-title">Delegates</h2>
      <Loaded query={delegates} what="the delegates">
        {({ list, totalSupply }) =>
          list.length === 0 ? (
            <p className="muted">Nobody has voting power yet: no tokens are delegated.</p>
          ) : (
            <table className="table" data-testid="delegates">
              <thead>
                <tr>
                  <th scope="col">Delegate</th>
                  <th scope="col" className="num">
                    Votes
                  </th>
                  <th scope="col" className="num">
                    Share
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.map(([delegate, votes]) => (
                  <tr key={delegate}>
                    <td>
                      <AddressText address={delegate} />
                    </td>
                    <td className="num">{formatTokens(votes)}</td>
                    <td className="num">{percent(votes, totalSupply)}%</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Loaded>
    </section>
  );
}
