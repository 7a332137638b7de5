import { isSubmitter } from "@dao-ai/pipeline-worker/Policy";
import { useQuery } from "@tanstack/react-query";
import { createFileRoute, Link } from "@tanstack/react-router";
import { getAbiItem, type AbiEvent, type Address, type Hex } from "viem";
import { AddressText } from "../components/AddressText.tsx";
import { ContributionEarnings } from "../components/ContributionEarnings.tsx";
import { Loaded } from "../components/Loading.tsx";
import { TxStatus } from "../components/TxStatus.tsx";
import { WithdrawSubmission } from "../components/WithdrawSubmission.tsx";
import { contributorRewardsAbi, policyRegistryAbi } from "../lib/abis.ts";
import { useApp } from "../lib/AppContext.tsx";
import { useChainHead, useChainQuery } from "../lib/ChainHead.tsx";
import { formatEth, formatRelative, formatTime, plural, shortHex } from "../lib/format.ts";
import { usePolicy, useWorkerApi } from "../lib/queries.ts";
import { useWallet } from "../lib/WalletContext.tsx";
import { useWrite } from "../lib/useWrite.ts";
import { SubmitData } from "./-components/SubmitData.tsx";

export const Route = createFileRoute("/contribute")({ component: ContributePage });

const contributionRecorded = getAbiItem({ abi: contributorRewardsAbi, name: "ContributionRecorded" }) as AbiEvent;

function ContributePage() {
  const { wallet } = useWallet();
  const { data: policy } = usePolicy();
  const account = wallet?.address;
  const allowed = account && policy ? isSubmitter(policy, account) : undefined;
  return (
    <section className="page" aria-labelledby="contribute-title">
      <div className="page-head">
        <h1 id="contribute-title">Contribute data</h1>
        <p className="lede">
          Submit training data (JSON Lines of {"{"}"text", "label"{"}"}) with the attestations the policy requires. The
          worker checks every record, encrypts the data, splits its key among the keyholders and records it on chain;
          your weight is the records you brought that were new to the pool (duplicates and near duplicates of records
          already there count nothing). The fees of the queries a model answers are paid to the contributions it was
          trained on, by weight; the treasury's grants to an epoch are shared by that epoch's contributions.
        </p>
      </div>
      {policy?.killSwitch.engaged ? (
        <p className="notice notice-error" role="alert" data-testid="contribute-kill-switch">
          The kill switch is engaged: the worker takes no data until a proposal lifts it. Rewards already earned can
          still be claimed.
        </p>
      ) : null}
      {!account ? (
        <p className="notice">Connect a wallet or pick an account to contribute.</p>
      ) : (
        <>
          {allowed === false ? (
            <p className="notice notice-warn" data-testid="not-a-submitter">
              <AddressText address={account} /> is not on the submitter allowlist, so the worker will refuse its data.{" "}
              <Link to="/proposals/new">Propose</Link> that the DAO allow it.
            </p>
          ) : null}
          <SubmitData account={account} />
          <Contributions account={account} />
          <Rewards account={account} />
          <ContributionEarnings account={account} />
        </>
      )}
    </section>
  );
}

/** The worker's view of your submissions, joined with what the chain recorded. */
function Contributions({ account }: { account: Address }) {
  const api = useWorkerApi();
  const submissions = useQuery({
    queryKey: ["worker", "submissions", account],
    queryFn: () => api!.submissions(account),
    enabled: api !== null,
    refetchInterval: 1_500,
  });
  const recorded = useRecordedContributions(account);
  const onChain = new Map((recorded.data ?? []).map((c) => [c.dataHash.toLowerCase(), c]));
  return (
    <section className="card" aria-labelledby="contributions-title">
      <h2 id="contributions-title">Your contributions</h2>
      {api === null ? (
        <>
          <p className="muted">No worker is configured: only what the chain recorded is shown.</p>
          <Loaded query={recorded} what="your recorded contributions">
            {(list) =>
              list.length === 0 ? (
                <p className="muted">None recorded yet.</p>
              ) : (
                <ul className="plain-list">
                  {list.map((c) => (
                    <li key={c.dataHash}>
                      <code title={c.dataHash}>{shortHex(c.dataHash)}</code>: {plural(c.weight, "unique record")} (
                      {plural(c.size, "byte")}) in epoch {c.epoch.toString()}
                    </li>
                  ))}
                </ul>
              )
            }
          </Loaded>
        </>
      ) : null}
      {api === null ? null : (
        <Loaded query={submissions} what="your submissions">
          {({ submissions: list }) =>
            list.length === 0 ? (
              <p className="muted">None yet.</p>
            ) : (
              <div className="table-scroll">
                <table className="table" data-testid="contributions">
                  <thead>
                    <tr>
                      <th scope="col">Data</th>
                      <th scope="col" className="num">
                        Size
                      </th>
                      <th scope="col" className="num">
                        Records
                      </th>
                      <th scope="col" className="num">
                        Duplicates
                      </th>
                      <th scope="col" className="num">
                        Near duplicates
                      </th>
                      <th scope="col" className="num">
                        Weight
                      </th>
                      <th scope="col">State</th>
                      <th scope="col">Epoch</th>
                      <th scope="col">Submitted</th>
                      <th scope="col">Withdraw</th>
                    </tr>
                  </thead>
                  <tbody>
                    {[...list].reverse().map((s) => {
                      const record = onChain.get(s.dataHash.toLowerCase());
                      return (
                        <tr key={s.id}>
                          <td>
                            <code title={s.dataHash}>{shortHex(s.dataHash)}</code>
                          </td>
                          <td className="num">{plural(BigInt(s.size), "byte")}</td>
                          <td className="num" data-testid="contribution-records">
                            {s.validation?.records ?? "—"}
                          </td>
                          <td className="num" data-testid="contribution-duplicates">
                            {s.validation?.duplicates ?? "—"}
                          </td>
                          <td className="num" data-testid="contribution-near-duplicates">
                            {s.validation?.nearDuplicates ?? "—"}
                          </td>
                          <td className="num" data-testid="contribution-weight">
                            {s.validation?.weight ?? "—"}
                          </td>
                          <td data-testid="contribution-state">
                            <span className={`state state-${s.state}`}>{s.state.replace("_", " ")}</span>
                            {s.rejection ? (
                              <span className="small">
                                {" "}
                                <code>{s.rejection.code}</code> {s.rejection.detail}
                              </span>
                            ) : null}
                          </td>
                          <td>{record ? record.epoch.toString() : "—"}</td>
                          <td className="small">{formatTime(Date.parse(s.createdAt) / 1000)}</td>
                          <td>
                            <WithdrawSubmission dataHash={s.dataHash as Hex} state={s.state} />
                          </td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </div>
            )
          }
        </Loaded>
      )}
    </section>
  );
}

type Recorded = { dataHash: Hex; epoch: bigint; size: bigint; weight: bigint; worker: Address };

function useRecordedContributions(account: Address) {
  return useChainQuery(["recorded", account], async ({ logCache, contracts }, head) => {
    const logs = await logCache.logs(contracts.contributorRewards, [contributionRecorded], head.number);
    return logs
      .filter((log) => (log.args.contributor as Address).toLowerCase() === account.toLowerCase())
      .map((log): Recorded => ({
        dataHash: log.args.dataHash as Hex,
        epoch: log.args.epoch as bigint,
        size: log.args.size as bigint,
        weight: log.args.weight as bigint,
        worker: log.args.worker as Address,
      }));
  });
}

/** Per epoch you contributed in: the pool, your share, what you can claim now. */
function Rewards({ account }: { account: Address }) {
  const { head } = useChainHead();
  const recorded = useRecordedContributions(account);
  const tx = useWrite();
  const epochs = [...new Set((recorded.data ?? []).map((c) => c.epoch))].sort((a, b) => (a < b ? 1 : -1));
  const rows = useChainQuery(
    ["rewards", account, epochs.map(String).join(",")],
    async ({ publicClient, contracts }, h) => {
      const rewards = {
        address: contracts.contributorRewards,
        abi: contributorRewardsAbi,
        blockNumber: h.number,
      } as const;
      const registry = { address: contracts.policyRegistry, abi: policyRegistryAbi, blockNumber: h.number } as const;
      const current = await publicClient.readContract({ ...registry, functionName: "currentEpoch" });
      return Promise.all(
        epochs.map(async (epoch) => {
          const [[pool, totalWeight, paid], [weight, claimed], claimable, endsAt] = await Promise.all([
            publicClient.readContract({ ...rewards, functionName: "epochTotals", args: [epoch] }),
            publicClient.readContract({ ...rewards, functionName: "shareOf", args: [epoch, account] }),
            publicClient.readContract({ ...rewards, functionName: "claimable", args: [epoch, account] }),
            publicClient.readContract({ ...registry, functionName: "epochEnd", args: [epoch] }),
          ]);
          return { epoch, pool, totalWeight, paid, weight, claimed, claimable, endsAt, over: epoch < current };
        }),
      );
    },
    { enabled: recorded.data !== undefined },
  );
  const { contracts } = useApp();
  const claimableEpochs = (rows.data ?? []).filter((r) => r.claimable > 0n).map((r) => r.epoch);
  const now = Number(head?.timestamp ?? 0n);

  return (
    <section className="card" aria-labelledby="rewards-title">
      <h2 id="rewards-title">Your rewards</h2>
      <Loaded query={rows} what="your rewards">
        {(list) =>
          list.length === 0 ? (
            <p className="muted">Rewards appear here once a contribution of yours is recorded on chain.</p>
          ) : (
            <>
              <div className="table-scroll">
                <table className="table" data-testid="rewards">
                  <thead>
                    <tr>
                      <th scope="col">Epoch</th>
                      <th scope="col" className="num">
                        Pool
                      </th>
                      <th scope="col" className="num">
                        Your share
                      </th>
                      <th scope="col" className="num">
                        Claimed
                      </th>
                      <th scope="col">Status</th>
                    </tr>
                  </thead>
                  <tbody>
                    {list.map((r) => {
                      const share = r.totalWeight === 0n ? 0n : (r.pool * r.weight) / r.totalWeight;
                      return (
                        <tr key={r.epoch.toString()}>
                          <td className="num">{r.epoch.toString()}</td>
                          <td className="num">{formatEth(r.pool)}</td>
                          <td className="num">
                            {formatEth(share)}
                            <span className="muted small">
                              {" "}
                              ({r.totalWeight === 0n ? 0 : Number((r.weight * 10_000n) / r.totalWeight) / 100}% of the
                              epoch's weight)
                            </span>
                          </td>
                          <td className="num">{formatEth(r.claimed)}</td>
                          <td data-testid="reward-status">
                            {!r.over ? (
                              `running: claimable ${formatRelative(r.endsAt, now)}`
                            ) : r.claimable > 0n ? (
                              <button
                                type="button"
                                className="button-small"
                                disabled={tx.busy}
                                onClick={() =>
                                  void tx.write({
                                    label: `Claim epoch ${r.epoch}`,
                                    address: contracts.contributorRewards,
                                    abi: contributorRewardsAbi,
                                    functionName: "claim",
                                    args: [r.epoch],
                                  })
                                }
                              >
                                Claim {formatEth(r.claimable)}
                              </button>
                            ) : r.claimed > 0n ? (
                              "claimed"
                            ) : (
                              "nothing to claim (empty pool)"
                            )}
                          </td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </div>
              {claimableEpochs.length > 1 ? (
                <button
                  type="button"
                  disabled={tx.busy}
                  onClick={() =>
                    void tx.write({
                      label: "Claim all",
                      address: contracts.contributorRewards,
                      abi: contributorRewardsAbi,
                      functionName: "claimMany",
                      args: [claimableEpochs],
                    })
                  }
                >
                  Claim all ({plural(claimableEpochs.length, "epoch")})
                </button>
              ) : null}
              <TxStatus state={tx.state} />
            </>
          )
        }
      </Loaded>
    </section>
  );
}
