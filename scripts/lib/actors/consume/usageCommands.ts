import { zeroAddress } from "viem";
import { usageSettlementAbi } from "@dao-ai/pipeline-worker/abis";
import type { QuotaStatus, UsageHistory } from "@dao-ai/pipeline-worker/consumer-api";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { eth, transact, type ConsumeCommands, type ConsumeContext } from "./consumeContext.ts";

const USAGE = `  usage                the consumer's usage per epoch, worker and key: served, charged, settled on chain, paid
      --csv            as CSV (one row per lane and epoch), for a spreadsheet or an invoice
  cancel               void the wallet's signed vouchers that each worker has not served yet (this epoch),
                       so a leaked one cannot be charged; on chain, effective after the grace (1 hour)
      --above N        void the totals above N instead (default: the highest the worker served)`;

async function usage(context: ConsumeContext) {
  if (context.workers.length === 0) {
    throw new BaseError("No worker to read usage from.", {
      hints: ["Name one with --worker-url URL (repeat it for several), or start the local stack with `npm start`."],
    });
  }
  const path = `/v1/usage?consumer=${context.consumer}`;
  if (context.options.csv) {
    // Each worker answers with its own header line; the export keeps the first.
    for (const [i, client] of context.workers.entries()) {
      const response = await fetch(`${client.url}${path}&format=csv`, { signal: AbortSignal.timeout(30_000) }).catch(
        (cause: unknown) => {
          throw new BaseError(`The worker at ${client.url} does not answer GET ${path}.`, { cause });
        },
      );
      const text = await response.text();
      if (!response.ok) throw new BaseError(`${client.url} refused the usage export (${response.status}): ${text}`);
      process.stdout.write(i === 0 ? text : text.slice(text.indexOf("\n") + 1));
    }
    return;
  }
  let lanes: (UsageHistory["lanes"][number] & { at: string })[] = [];
  for (const client of context.workers) {
    const answer = await client.get<UsageHistory>(path);
    if (answer.status !== 200) {
      throw new BaseError(
        `${client.url} did not give the usage: ${answer.body.code ?? answer.status} ${answer.body.detail ?? ""}`,
      );
    }
    lanes = lanes.concat(answer.body.lanes.map((lane) => ({ ...lane, at: client.url })));
  }
  if (lanes.length === 0) {
    console.log(`No usage of ${context.consumer} at ${context.workers.map((w) => w.url).join(", ")}.`);
    return;
  }
  lanes.sort((a, b) => Number(BigInt(b.epoch) - BigInt(a.epoch)));
  console.log(`Usage of ${context.consumer} (charged: the highest total served in the lane, what settlement charges):`);
  const rows = [
    ["epoch", "worker", "key", "served", "charged", "settled", "paid", "state"],
    ...lanes.map((lane) => [
      lane.epoch,
      lane.worker,
      lane.key === zeroAddress ? "own wallet" : lane.key,
      lane.served,
      lane.charged,
      lane.settledTotal,
      eth(BigInt(lane.paidWei)),
      lane.state,
    ]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const row of rows) console.log(`  ${row.map((cell, c) => cell.padEnd(widths[c]!)).join("  ")}`);
  const paid = lanes.reduce((sum, lane) => sum + BigInt(lane.paidWei), 0n);
  const owed = lanes.filter((lane) => lane.state !== "settled").length;
  console.log(
    `Paid in all: ${eth(paid)}${owed > 0 ? `; ${owed} lane(s) not settled yet (workers settle within the epoch's window)` : ""}.`,
  );
}

async function cancel(context: ConsumeContext) {
  if (context.workers.length === 0) {
    throw new BaseError("No worker to cancel vouchers at.", {
      hints: ["Name one with --worker-url URL (repeat it for several), or start the local stack with `npm start`."],
    });
  }
  const above = context.options.above as string | undefined;
  if (above !== undefined && !/^\d+$/.test(above)) throw new BaseError(`--above takes a total; got "${above}".`);
  const consumer = context.wallet.account.address;
  for (const client of context.workers) {
    const quota = await client.get<QuotaStatus>(`/v1/quota?consumer=${consumer}`);
    if (quota.status !== 200) {
      throw new BaseError(
        `${client.url} did not say its lane: ${quota.body.code ?? quota.status} ${quota.body.detail ?? ""}`,
      );
    }
    const epoch = BigInt(quota.body.epoch);
    const aboveTotal = above === undefined ? BigInt(quota.body.nextTotal) - 1n : BigInt(above);
    await transact(
      context,
      `Voiding ${consumer}'s vouchers above total ${aboveTotal} for worker ${quota.body.worker} in epoch ${epoch}`,
      () =>
        context.wallet.writeContract({
          address: context.deployment.contracts.usageSettlement,
          abi: usageSettlementAbi,
          functionName: "cancelVouchers",
          args: [quota.body.worker, epoch, aboveTotal],
        }),
    );
    const [, effectiveAt] = await context.publicClient.readContract({
      address: context.deployment.contracts.usageSettlement,
      abi: usageSettlementAbi,
      functionName: "cancellation",
      args: [consumer, quota.body.worker, epoch],
    });
    console.log(
      `From ${new Date(Number(effectiveAt) * 1000).toISOString()}, ${client.url} can charge at most total ${aboveTotal} of epoch ${epoch}; it settles what it served before then at once.`,
    );
  }
}

export const usageCommands: ConsumeCommands = { usage: USAGE, commands: { usage, cancel } };
