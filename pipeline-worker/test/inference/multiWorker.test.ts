import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseEther, type EIP1193RequestFn } from "viem";
import { usageSettlementAbi } from "../../../deployments/abis.ts";
import { registryAction } from "../../../test/helpers/governance.ts";
import type { QueryRequest } from "../../src/inference/createQueryService.ts";
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

async function post(child: Child, body: QueryRequest) {
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

const settledUsage = async (consumer: string) =>
  t.readSettlement<bigint>("settledUsage", [consumer, await t.currentEpoch()]);

describe("several worker processes serving the same consumers", () => {
  it("serve together exactly the quota, each its share, however the queries are spread; settlement adds up", async () => {
    const epoch = await t.currentEpoch();
    const poolBefore = await t.poolOf(epoch);
    // Three times the quota, sent all at once, every worker receiving more than its share.
    const bodies = await Promise.all(Array.from({ length: 3 * Number(QUOTA) }, () => t.signQuery()));
    const responses = await Promise.all(bodies.map((body, i) => post(children[i % WORKERS]!, body)));
    const servedBy = children.map((_, index) => responses.filter((r, i) => i % WORKERS === index && r.status === 200));
    for (const [index, served] of servedBy.entries()) {
      expect(BigInt(served.length)).toBe(workerShare({ quota: QUOTA, workerIndex: index, workerCount: WORKERS }));
    }
    expect(responses.filter((r) => r.status === 200)).toHaveLength(Number(QUOTA));
    expect(responses.filter((r) => r.status !== 200).every((r) => r.body.code === "QUOTA_EXHAUSTED")).toBe(true);

    // A second wave, spread at random, finds nothing left anywhere.
    const more = await Promise.all(Array.from({ length: 12 }, () => t.signQuery()));
    const late = await Promise.all(more.map((body) => post(children[Math.floor(Math.random() * WORKERS)]!, body)));
    expect(late.map((r) => r.body.code)).toEqual(late.map(() => "QUOTA_EXHAUSTED"));

    // Each worker settles its own vouchers within the settlement interval: usage on chain is the quota.
    await eventually(() => settledUsage(t.consumer.address), QUOTA);
    expect(await t.poolOf(epoch)).toBe(poolBefore + QUOTA * t.fee);
    for (const child of children) {
      expect(await usedAt(child, t.consumer.address)).toBe(
        workerShare({ quota: QUOTA, workerIndex: child.index, workerCount: WORKERS }),
      );
    }
  });

  it("a worker killed mid-stream (SIGKILL) loses no counted query and serves no more than its share after a restart", async () => {
    const worker = children[0]!;
    const share = workerShare({ quota: CRASH_QUOTA, workerIndex: 0, workerCount: WORKERS });
    const sign = () => t.signQuery({ signer: crashConsumer });
    const first = await Promise.all(Array.from({ length: Number(share) }, sign));
    // Queries keep arriving on four connections; the worker is killed right after the fifth answer,
    // with the other lanes' queries in flight.
    const answered: QueryRequest[] = [];
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
    for (const body of answered.slice(0, 3)) expect((await post(restarted, body)).body.code).toBe("NONCE_REPLAYED");

    // What is left of the share, and not one more.
    const rest = await Promise.all(Array.from({ length: Number(share) }, sign));
    const after = await Promise.all(rest.map((body) => post(restarted, body)));
    const servedAfter = after.filter((r) => r.status === 200).length;
    expect(BigInt(servedAfter)).toBe(share - used);
    expect(BigInt(answered.length + servedAfter)).toBeLessThanOrEqual(share);
    expect(await usedAt(restarted, crashConsumer.address)).toBe(share);

    // Every counted query is settled once: what the chain charges is what the worker counted.
    await eventually(() => settledUsage(crashConsumer.address), share);
  });
});
