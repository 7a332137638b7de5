import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { QuotaStatus, SignedQueryRequest, UsageHistory } from "../../src/api/consumerWire.ts";
import { describeInjected } from "../helpers/createFaultyRpcProxy.ts";
import { spawnWorkerProcess, type WorkerProcess } from "../helpers/workerProcesses.ts";
import { devPrivateKey, WORKER_ACCOUNTS } from "../inference/createInferenceTestSystem.ts";
import { createFaultsSystem, type FaultsSystem } from "./createFaultsSystem.ts";

// A worker process killed (SIGKILL) at each point of a lane's life (docs/queries.md): with queries
// in flight, after they were counted and before their lane is settled; once the epoch ended, while
// the lane's settle transaction is held in the network (delivered late, after the restart); and
// after that transaction was mined but before the worker saw its receipt and marked the lane.
// test/inference/multiWorker.test.ts kills a worker between settlements; here the kills fall inside
// the flow. Compared with the answers the consumer got: the lane's settledTotal is the highest total
// the worker counted, in one UsageSettled entry, so every answered query is charged exactly once,
// nothing twice and nothing lost, and no answered query is served again.

const CLIENTS = 4;
/** Each round is one epoch; even rounds hold the settle transaction, odd ones its receipt. */
const ROUNDS = process.env.SOAK ? 6 : 2;
const QUERIES_PER_ROUND = 40;
/** Queries served by the restarted worker before the epoch ends. */
const AFTER_RESTART = 4;

let f: FaultsSystem;
let worker: WorkerProcess | undefined;
const summary = { countedKills: 0, settleKills: 0, answered: 0, inFlight: 0, lateTransactions: 0, minedUnmarked: 0 };

beforeAll(async () => {
  f = await createFaultsSystem();
}, 120_000);
afterAll(async () => {
  console.info(
    `faults: worker killed: ${summary.countedKills} SIGKILLs with queries counted and unsettled, ${summary.settleKills} with the ` +
      `lane's settlement under way (${describeInjected(f.proxy.injected)}; ${summary.lateTransactions} transactions delivered ` +
      `after the restart, ${summary.minedUnmarked} mined before it and unmarked); ${summary.answered} answered queries all ` +
      `charged exactly once, ${summary.inFlight} queries in flight at the kills charged at most once, none served twice`,
  );
  await worker?.stop();
  await f?.closeAll();
});

function spawn(dataDir: string) {
  return spawnWorkerProcess({
    index: 0,
    count: 1,
    rpcUrl: f.proxy.url,
    chainId: f.deployment.chainId,
    manifest: f.manifest,
    dataDir,
    privateKey: devPrivateKey(WORKER_ACCOUNTS[0]),
    clockOffsetMs: f.clock.offsetMs,
    env: {
      WORKER_SETTLEMENT_BATCH_SIZE: "8",
      WORKER_SETTLEMENT_INTERVAL_SECONDS: "1",
      // Queries spend this long in the model, so that some are in flight at the kill.
      TEST_MODEL_DELAY_MS: "25",
    },
  });
}

async function quota(url: string): Promise<QuotaStatus> {
  const response = await fetch(`${url}/v1/quota?consumer=${f.consumer.address}`);
  return (await response.json()) as QuotaStatus;
}

/** The worker's own record of the consumer's lane in `epoch` (`GET /v1/usage`). */
async function laneAt(url: string, epoch: bigint) {
  const response = await fetch(`${url}/v1/usage?consumer=${f.consumer.address}`);
  return ((await response.json()) as UsageHistory).lanes.find((lane) => BigInt(lane.epoch) === epoch);
}

/** Ends the epoch under way on the chain (a block past its end), so the worker settles its lanes. */
async function endEpoch(epochEndsAt: number) {
  const block = await f.publicClient.getBlock({ blockTag: "latest" });
  await f.testClient.increaseTime({ seconds: Math.max(1, epochEndsAt - Number(block.timestamp) + 1) });
  await f.testClient.mine({ blocks: 1 });
  await f.clock.sync();
}

describe("a worker killed at each point of a lane's settlement", () => {
  it(
    "charges every answered query exactly once after the restarts: nothing twice, nothing lost",
    async () => {
      const dataDir = path.join(f.root, "killed-worker");
      worker = await spawn(dataDir);
      /** Queries charged on chain over the rounds so far: each round's lane at its highest total. */
      let charged = 0n;
      for (let round = 0; round < ROUNDS; round++) {
        const epoch = BigInt((await quota(worker.url)).epoch);
        const answered: SignedQueryRequest[] = [];

        // 1. Killed with queries in flight: counted (durably, or not at all) and not settled, since
        // a lane settles after its epoch.
        const bodies = await Promise.all(
          Array.from({ length: QUERIES_PER_ROUND }, (_, i) => f.signQuery({ total: BigInt(i + 1) })),
        );
        let next = 0;
        let killed: Promise<void> | undefined;
        const current = worker;
        const client = async () => {
          while (killed === undefined && next < bodies.length) {
            const body = bodies[next++]!;
            const response = await f.query(current.url, body).catch(() => undefined);
            if (response?.status === 200) answered.push(body);
            else if (response !== undefined) expect(response.body.code).toBe("QUOTA_EXHAUSTED");
            if (answered.length >= 12) killed ??= current.stop("SIGKILL");
          }
        };
        await Promise.all(Array.from({ length: CLIENTS }, client));
        expect(killed, "every query was answered before the kill").toBeDefined();
        await killed;
        summary.countedKills++;
        expect(await f.usageSettled(), "a lane of the epoch under way was settled").toHaveLength(round);

        worker = await spawn(dataDir);
        // The restarted worker kept its counts: an answered query sent again is refused, not served.
        for (const body of answered.slice(-3)) {
          expect((await f.query(worker.url, body)).body.code).toBe("TOTAL_REPLAYED");
        }
        // It serves the lane on from the highest total it counted.
        for (let i = 0; i < AFTER_RESTART; i++) {
          const body = await f.signQuery({ total: BigInt((await quota(worker.url)).used) + 1n });
          expect((await f.query(worker.url, body)).status).toBe(200);
          answered.push(body);
        }
        const status = await quota(worker.url);
        const counted = BigInt(status.used);
        // What was counted and not answered was in flight at the kill.
        expect(counted).toBeGreaterThanOrEqual(BigInt(answered.length));
        expect(counted - BigInt(answered.length)).toBeLessThanOrEqual(BigInt(CLIENTS));

        // 2. The epoch ends and the worker settles the lane: killed while the transaction is held in
        // the network (delivered after the restart), or 3. once it was mined, while its receipt is
        // held and the store has not marked the lane.
        const late = round % 2 === 0;
        f.proxy.inject(
          late
            ? { methods: ["eth_sendRawTransaction"], fault: { kind: "stall", when: "before" }, times: 1 }
            : { methods: ["eth_getTransactionReceipt"], fault: { kind: "stall", when: "after" }, times: 1 },
        );
        await endEpoch(status.epochEndsAt);
        await expect
          .poll(() => f.proxy.stalled(), {
            timeout: 30_000,
            interval: 100,
            message: "the worker never settled the lane",
          })
          .toBeGreaterThan(0);
        await worker.stop("SIGKILL");
        summary.settleKills++;
        const workerAddress = f.workerWallets[0]!.account.address;
        const sentAtKill = await f.publicClient.getTransactionCount({ address: workerAddress });
        if (late) summary.lateTransactions++;
        else {
          // Mined before the kill: the chain has the lane, the worker's store does not know it.
          expect(await f.laneSettledTotal(epoch)).toBe(counted);
          summary.minedUnmarked++;
        }

        worker = await spawn(dataDir);
        // The held transaction (or its receipt) goes on now, to a worker that no longer exists.
        f.proxy.clear();

        // The restarted worker settles the lane (or finds it settled) once: its charge is the
        // highest total counted, in one UsageSettled entry.
        await expect.poll(() => f.laneSettledTotal(epoch), { timeout: 30_000, interval: 250 }).toBe(counted);
        const entries = (await f.usageSettled()).filter((log) => log.args.epoch === epoch);
        expect(entries).toHaveLength(1);
        expect(BigInt(entries[0]!.args.queries)).toBe(counted);
        expect(entries[0]!.args.total).toBe(counted);
        expect(await f.readSettlement<bigint>("usedInEpoch", [f.consumer.address, epoch])).toBe(counted);
        for (const body of answered) expect(await f.totalSettled(body)).toBe(true);
        // The restarted worker knows the lane settled (not pending, not dropped as refused).
        await expect
          .poll(async () => (await laneAt(worker!.url, epoch))?.state, { timeout: 10_000, interval: 250 })
          .toBe("settled");
        const lane = (await laneAt(worker.url, epoch))!;
        expect(BigInt(lane.charged)).toBe(counted);
        expect(BigInt(lane.settledTotal)).toBe(counted);
        expect(BigInt(lane.served)).toBeGreaterThanOrEqual(BigInt(answered.length));
        // A while later still nothing more: the late transaction and the restarted worker's flushes
        // did not settle the lane again.
        await new Promise((resolve) => setTimeout(resolve, 2_500));
        expect((await f.usageSettled()).filter((log) => log.args.epoch === epoch)).toHaveLength(1);
        // One transaction for the lane in all: the mined one was not sent again; of the held one
        // and the restarted worker's own, only one landed.
        expect(await f.publicClient.getTransactionCount({ address: workerAddress })).toBe(sentAtKill + (late ? 1 : 0));
        charged += counted;
        expect(await f.settledEvents()).toBe(charged);

        summary.inFlight += Number(counted) - answered.length;
        summary.answered += answered.length;
      }
    },
    45_000 * ROUNDS,
  );
});
