import type { QuotaStatus } from "@dao-ai/pipeline-worker/consumer-api";
import { useQuery } from "@tanstack/react-query";
import { createFileRoute } from "@tanstack/react-router";
import { useMemo } from "react";
import type { Address } from "viem";
import { ErrorNotice } from "../components/ErrorNotice.tsx";
import { policyRegistryAbi, usageSettlementAbi } from "../lib/abis.ts";
import { useChainHead, useChainQuery } from "../lib/ChainHead.tsx";
import { createConsumeApi, useUsageHistory } from "../lib/consumeApi.ts";
import { decodeError } from "../lib/decodeError.ts";
import { formatRelative, formatTime, plural } from "../lib/format.ts";
import { usePolicy, useWorkerApi } from "../lib/queries.ts";
import { useWallet } from "../lib/WalletContext.tsx";
import { ConsumeAsk } from "./-components/ConsumeAsk.tsx";
import { ConsumeDeposit } from "./-components/ConsumeDeposit.tsx";
import { ConsumeKeys } from "./-components/ConsumeKeys.tsx";
import { ConsumeUsage } from "./-components/ConsumeUsage.tsx";
import { TierMembership } from "./-components/TierMembership.tsx";

export const Route = createFileRoute("/consume")({ component: ConsumePage });

function ConsumePage() {
  const { wallet } = useWallet();
  const { data: policy } = usePolicy();
  return (
    <section className="page" aria-labelledby="consume-title">
      <div className="page-head">
        <h1 id="consume-title">Query the AI</h1>
        <p className="lede">
          Consumers with a quota (voted by the DAO, or from a tier they joined) ask within it each epoch, with a session
          key, an API key or their wallet's signature. The AI answers with a label and a coarse score only; the fees go
          to the contributors.
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
  const consumeApi = useMemo(() => (api ? createConsumeApi(api) : null), [api]);
  const { head } = useChainHead();
  const { data: policy } = usePolicy();
  const chainAccount = useChainQuery(["consumer", account], async ({ publicClient, contracts }, h) => {
    const [fee, [deposit, pendingWithdrawal, unlocksAt]] = await Promise.all([
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
    return { fee, deposit, pendingWithdrawal, unlocksAt };
  });
  const quota = useQuery({
    queryKey: ["worker", "quota", account],
    queryFn: () => consumeApi!.quota(account),
    enabled: consumeApi !== null,
    refetchInterval: 2_000,
    retry: false,
  });
  const usage = useUsageHistory(consumeApi, account);
  const owedQueries = usage.data?.lanes.reduce(
    (sum, lane) =>
      lane.state === "open" || lane.state === "pending" ? sum + BigInt(lane.charged) - BigInt(lane.settledTotal) : sum,
    0n,
  );
  const now = Number(head?.timestamp ?? 0n);

  return (
    <>
      <div className="card-grid">
        <section className="card" aria-labelledby="quota-title">
          <h2 id="quota-title">Your quota</h2>
          {!consumeApi ? (
            <p className="notice">No worker is configured, so no query can be sent.</p>
          ) : quota.data ? (
            quota.data.quota === "0" ? (
              <p data-testid="no-quota">
                You have no quota this epoch: join a tier, or ask the DAO for one by proposal.
              </p>
            ) : (
              <QuotaMeter quota={quota.data} />
            )
          ) : quota.isError ? (
            <ErrorNotice error={decodeError(quota.error)} title="The worker cannot tell your usage" />
          ) : (
            <p className="muted">Reading your usage…</p>
          )}
        </section>
        <ConsumeDeposit account={account} data={chainAccount.data} owedQueries={owedQueries} now={now} />
      </div>
      <TierMembership />
      {consumeApi && quota.data ? (
        <>
          <ConsumeAsk
            account={account}
            consumeApi={consumeApi}
            quota={quota.data}
            killed={policy?.killSwitch.engaged ?? false}
          />
          <ConsumeKeys account={account} consumeApi={consumeApi} quota={quota.data} now={now} />
          <ConsumeUsage account={account} consumeApi={consumeApi} currentEpoch={quota.data.epoch} now={now} />
        </>
      ) : null}
    </>
  );
}

function QuotaMeter({ quota }: { quota: QuotaStatus }) {
  const used = BigInt(quota.used);
  const share = BigInt(quota.share.queries);
  const remaining = BigInt(quota.remaining);
  return (
    <div data-testid="quota-meter">
      <p className="stat-value">
        <span data-testid="queries-used">{used.toString()}</span> of {share.toString()} used
      </p>
      <progress max={Number(share)} value={Number(used)} aria-label="Queries used this epoch" />
      <p className="small">
        {plural(remaining, "query", "queries")} left at this worker in epoch {quota.epoch}
        {quota.share.workerCount > 1
          ? ` (its share of your ${quota.quota} per epoch, split over ${quota.share.workerCount} workers)`
          : ""}
        . The quota resets at {formatTime(quota.epochEndsAt)} (
        {formatRelative(quota.epochEndsAt, Math.floor(Date.now() / 1000))}).
      </p>
    </div>
  );
}
