import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseEther, type EIP1193RequestFn } from "viem";
import { usageSettlementAbi } from "../../../deployments/abis.ts";
import { registryAction } from "../../../test/helpers/governance.ts";
import type { SignedQueryRequest } from "../../src/api/consumerWire.ts";
import { workerShare } from "../../src/inference/workerShare.ts";
import { spawnWorkerProcess, type WorkerProcess } from "../helpers/workerProcesses.ts";
import {
  createInferenceTestSystem,
  devAccount,
  devPrivateKey,
  WORKER_ACCOUNTS,
  type InferenceTestSystem,
} from "./createInferenceTestSystem.ts";
import { serveProvider } from "./serveProvider.ts";

// Three worker processes, each given a third of every quota (workerIndex/workerCount), against one
// chain. The bound this tests: together they never serve a consumer more than its quota (0 over).
const WORKERS = 3;
const QUOTA = 31n; // shares 11, 10, 10
const CRASH_QUOTA = 60n; // shares 20, 20, 20
// Long enough that queries are caught inside the model when a worker is killed.
const MODEL_DELAY_MS = 25;
const LANES = 4;

type Child = WorkerProcess;

let t: InferenceTestSystem;
let rpc: Awaited<ReturnType<typeof serveProvider>>;
const children: Child[] = [];
const crashConsumer = devAccount(10);

beforeAll(async () => {
  t = await createInferenceTestSystem({ quota: QUOTA, workers: WORKERS });
  await t.pass([registryAction(t, "setQuota", [crashConsumer.address, CRASH_QUOTA])]);
  await t.wait(
    await t.accounts.attester2.writeContract({
      address: t.deployment.contracts.usageSettlement,
      abi: usageSettlementAbi,
      functionName: "deposit",
      args: [crashConsumer.address],
      value: parseEther("1"),
    }),
  );
  await t.clock.sync();
  const provider = t.connection.provider;
  rpc = await serveProvider(provider.request.bind(provider) as EIP1193RequestFn);
  const root = await mkdtemp(path.join(tmpdir(), "multi-worker-"));
  await Promise.all(
    Array.from({ length: WORKERS }, async (_, index) => {
      children[index] = await spawnWorker(index, path.join(root, `worker-${index}`));
    }),
  );
}, 120_000);

afterAll(async () => {
  await Promise.all(children.map((child) => stopWorker(child)));
  await rpc?.close();
  await t?.cleanUp();
});

function spawnWorker(index: number, dataDir: string): Promise<Child> {
  return spawnWorkerProcess({
    index,
    count: WORKERS,
    rpcUrl: rpc.url,
    chainId: t.deployment.chainId,
    manifest: t.manifest,
    dataDir,
    privateKey: devPrivateKey(WORKER_ACCOUNTS[index]!),
    clockOffsetMs: t.clock.offsetMs,
    env: {
      WORKER_SETTLEMENT_BATCH_SIZE: "8",
      WORKER_SETTLEMENT_INTERVAL_SECONDS: "1",
      TEST_MODEL_DELAY_MS: String(MODEL_DELAY_MS),
    },
  });
}

async function stopWorker(child: Child | undefined, signal: NodeJS.Signals = "SIGTERM") {
  await child?.stop(signal);
}

async function post(child: Child, body: SignedQueryRequest) {
  const response = await fetch(`${child.url}/v1/queries`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> & { code?: string } };
}

async function usedAt(child: Child, consumer: string) {
  const response = await fetch(`${child.url}/v1/quota/${consumer}`);
  return BigInt(((await response.json()) as { used: string }).used);
}

async function eventually(read: () => Promise<bigint>, expected: bigint, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (value !== expected && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    value = await read();
  }
  expect(value).toBe(expected);
}

const settledUsage = async (consumer: string, epoch: bigint) =>
  t.readSettlement<bigint>("usedInEpoch", [consumer, epoch]);

/** The address of the worker process at `index`: the `worker` its vouchers name. */
const workerAddress = (index: number) => devAccount(WORKER_ACCOUNTS[index]!).address;

/**
 * Moves the chain past the epoch under way, so the workers' settlement loops settle its lanes (one
 * entry each).
 */
async function endEpoch() {
  await t.testClient.increaseTime({ seconds: Number(t.deployment.settings.epochLength) });
  await t.testClient.mine({ blocks: 1 });
  await t.clock.sync();
}

let firstEpoch: bigint | undefined;
let crashShare: bigint | undefined;

describe("several worker processes serving the same consumers", () => {
  it("serve together exactly the quota, each its share, however the queries are spread; settlement adds up", async () => {
    // Three times the quota, sent all at once, every worker receiving more than its share.
    const bodies = await Promise.all(
      Array.from({ length: 3 * Number(QUOTA) }, (_, i) => t.signQuery({ worker: workerAddress(i % WORKERS) })),
    );
    const responses = await Promise.all(bodies.map((body, i) => post(children[i % WORKERS]!, body)));
    const servedBy = children.map((_, index) => responses.filter((r, i) => i % WORKERS === index && r.status === 200));
    for (const [index, served] of servedBy.entries()) {
      expect(BigInt(served.length)).toBe(workerShare({ quota: QUOTA, workerIndex: index, workerCount: WORKERS }));
    }
    expect(responses.filter((r) => r.status === 200)).toHaveLength(Number(QUOTA));
    expect(responses.filter((r) => r.status !== 200).every((r) => r.body.code === "QUOTA_EXHAUSTED")).toBe(true);

    // A second wave, spread at random, finds nothing left anywhere.
    const targets = Array.from({ length: 12 }, () => Math.floor(Math.random() * WORKERS));
    const more = await Promise.all(targets.map((index) => t.signQuery({ worker: workerAddress(index) })));
    const late = await Promise.all(more.map((body, i) => post(children[targets[i]!]!, body)));
    expect(late.map((r) => r.body.code)).toEqual(late.map(() => "QUOTA_EXHAUSTED"));

    for (const child of children) {
      expect(await usedAt(child, t.consumer.address)).toBe(
        workerShare({ quota: QUOTA, workerIndex: child.index, workerCount: WORKERS }),
      );
    }
  }, 180_000);

  it("a worker killed mid-stream (SIGKILL) loses no counted query and serves no more than its share after a restart", async () => {
    const worker = children[0]!;
    const share = workerShare({ quota: CRASH_QUOTA, workerIndex: 0, workerCount: WORKERS });
    const epoch = await t.currentEpoch();
    const sign = () => t.signQuery({ signer: crashConsumer, worker: workerAddress(0) });
    const first = await Promise.all(Array.from({ length: Number(share) }, sign));
    // Queries keep arriving on four connections; the worker is killed right after the fifth answer,
    // with the other lanes' queries in flight.
    const answered: SignedQueryRequest[] = [];
    let next = 0;
    let killed: Promise<void> | undefined;
    const lane = async () => {
      while (killed === undefined && next < first.length) {
        const body = first[next++]!;
        const response = await post(worker, body).catch(() => undefined);
        if (response?.status === 200) answered.push(body);
        if (answered.length >= 5) killed ??= stopWorker(worker, "SIGKILL");
      }
    };
    await Promise.all(Array.from({ length: LANES }, lane));
    await killed;
    expect(answered.length).toBeGreaterThanOrEqual(5);
    expect(answered.length).toBeLessThan(Number(share));

    const restarted = await spawnWorker(0, worker.dataDir);
    children[0] = restarted;
    const used = await usedAt(restarted, crashConsumer.address);
    // Nothing answered was lost; queries counted but whose answers never left are counted too
    // (the consumer is charged for them: the bound is on answers, never above the share).
    expect(used).toBeGreaterThanOrEqual(BigInt(answered.length));
    expect(used).toBeLessThanOrEqual(BigInt(answered.length + LANES));
    for (const body of answered.slice(0, 3)) expect((await post(restarted, body)).body.code).toBe("TOTAL_REPLAYED");

    // What is left of the share, and not one more.
    // The consumer picks up at the worker's nextTotal: totals signed and lost in the crash are not reused.
    const rest = await Promise.all(
      Array.from({ length: Number(share) }, (_, i) =>
        t.signQuery({ signer: crashConsumer, worker: workerAddress(0), total: used + 1n + BigInt(i) }),
      ),
    );
    const after = await Promise.all(rest.map((body) => post(restarted, body)));
    const servedAfter = after.filter((r) => r.status === 200).length;
    expect(BigInt(servedAfter)).toBe(share - used);
    expect(BigInt(answered.length + servedAfter)).toBeLessThanOrEqual(share);
    expect(await usedAt(restarted, crashConsumer.address)).toBe(share);

    firstEpoch = epoch;
    crashShare = share;
  }, 180_000);

  it("settle each lane with one entry once the epoch has ended: usage on chain is what was counted, fees accrue to the epoch", async () => {
    const epoch = firstEpoch!;
    const firstBlock = await t.publicClient.getBlockNumber();
    await endEpoch();
    await eventually(() => settledUsage(t.consumer.address, epoch), QUOTA);
    await eventually(() => settledUsage(crashConsumer.address, epoch), crashShare!);
    expect(await t.readSettlement("feesOf", [epoch])).toEqual([(QUOTA + crashShare!) * t.fee, false]);
    const events = await t.publicClient.getContractEvents({
      address: t.deployment.contracts.usageSettlement,
      abi: usageSettlementAbi,
      eventName: "UsageSettled",
      fromBlock: firstBlock,
    });
    // One entry per lane: three lanes of the first consumer (one per worker), one of the second.
    expect(events.map((e) => `${e.args.consumer}!${e.args.worker}`).sort()).toEqual(
      [
        ...[0, 1, 2].map((i) => `${t.consumer.address}!${workerAddress(i)}`),
        `${crashConsumer.address}!${workerAddress(0)}`,
      ].sort(),
    );
  }, 120_000);
});
