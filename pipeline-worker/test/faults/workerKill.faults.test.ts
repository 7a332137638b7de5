import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SignedQueryRequest } from "../../src/api/consumerWire.ts";
import { describeInjected } from "../helpers/createFaultyRpcProxy.ts";
import { spawnWorkerProcess, type WorkerProcess } from "../helpers/workerProcesses.ts";
import { devPrivateKey, WORKER_ACCOUNTS } from "../inference/createInferenceTestSystem.ts";
import { createFaultsSystem, type FaultsSystem } from "./createFaultsSystem.ts";

// A worker process killed (SIGKILL) with queries in flight and a settle transaction on its way:
// its answer lost (the transaction landed), or the transaction itself held in the network and
// delivered late, after the worker restarted. test/inference/multiWorker.test.ts kills a worker
// between settlements; here the kill falls inside one. Compared with the answers the consumers
// got: every answered query is settled on chain exactly once, nothing more is charged than was
// counted, and no answered query is served again.

const LANES = 4;
const ROUNDS = process.env.SOAK ? 4 : 1;
const QUERIES_PER_ROUND = 40;

let f: FaultsSystem;
let worker: WorkerProcess | undefined;
const summary = { kills: 0, answered: 0, inFlight: 0, lateTransactions: 0 };

beforeAll(async () => {
  f = await createFaultsSystem();
}, 120_000);
afterAll(async () => {
  console.info(
    `faults: worker killed: ${summary.kills} SIGKILLs with a settle transaction in flight (${describeInjected(f.proxy.injected)} on eth_sendRawTransaction, ` +
      `${summary.lateTransactions} delivered after the restart); ${summary.answered} answered queries all settled exactly once, ` +
      `${summary.inFlight} queries in flight at the kills charged at most once, none served twice`,
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

async function used(url: string): Promise<bigint> {
  const response = await fetch(`${url}/v1/quota/${f.consumer.address}`);
  return BigInt(((await response.json()) as { used: string }).used);
}

describe("a worker killed while it settles", () => {
  it("settles every answered query exactly once after a restart, whether its transaction landed or arrives late", async () => {
    const dataDir = path.join(f.root, "killed-worker");
    worker = await spawn(dataDir);
    const sent: SignedQueryRequest[] = [];
    const answered: SignedQueryRequest[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Odd rounds: the node got the transaction and the answer is lost. Even: the network holds
      // the transaction itself, and delivers it once the worker has restarted.
      const when = round % 2 === 0 ? "before" : "after";
      f.proxy.inject({ methods: ["eth_sendRawTransaction"], fault: { kind: "stall", when }, times: 1 });
      // The round picks up at the worker's next total: totals signed and never sent are not skipped.
      const first = (await used(worker.url)) + 1n;
      const bodies = await Promise.all(
        Array.from({ length: QUERIES_PER_ROUND }, (_, i) => f.signQuery({ total: first + BigInt(i) })),
      );
      let next = 0;
      let killed: Promise<void> | undefined;
      const current = worker;
      const lane = async () => {
        while (killed === undefined && next < bodies.length) {
          const body = bodies[next++]!;
          sent.push(body);
          const response = await f.query(current.url, body).catch(() => undefined);
          if (response?.status === 200) answered.push(body);
          else if (response !== undefined) expect(response.body.code).toBe("QUOTA_EXHAUSTED");
          // Killed once a settle transaction is held and a few more queries were answered after it.
          if (f.proxy.stalled() > 0 && answered.length >= 12 * (round + 1)) {
            killed ??= current.stop("SIGKILL");
          }
        }
      };
      await Promise.all(Array.from({ length: LANES }, lane));
      expect(killed, "the worker settled before it was killed: no transaction was held").toBeDefined();
      await killed;
      summary.kills++;

      worker = await spawn(dataDir);
      if (when === "before") summary.lateTransactions++;
      // The held transaction (or its answer) goes on now, to a worker that no longer exists.
      f.proxy.clear();

      // Everything the worker counted is settled by its restarted self, once.
      const counted = await used(worker.url);
      await expect
        .poll(async () => f.readSettlement<bigint>("usedInEpoch", [f.consumer.address, await f.currentEpoch()]), {
          timeout: 30_000,
          interval: 250,
        })
        .toBe(counted);
      await expect.poll(() => f.settledEvents(), { timeout: 10_000 }).toBe(counted);
      // Nothing answered was lost; what was counted and not answered was in flight at the kill.
      for (const body of answered) expect(await f.totalSettled(body)).toBe(true);
      expect(counted).toBeGreaterThanOrEqual(BigInt(answered.length));
      expect(counted - BigInt(answered.length)).toBeLessThanOrEqual(BigInt(LANES * (round + 1)));
      const spent = await Promise.all(sent.map((body) => f.totalSettled(body)));
      expect(BigInt(spent.filter(Boolean).length)).toBe(counted);
      // An answered query sent again is refused, never served (or charged) twice.
      for (const body of answered.slice(-3)) {
        expect((await f.query(worker.url, body)).body.code).toBe("TOTAL_REPLAYED");
      }
      summary.inFlight = Number(counted) - answered.length;
    }
    summary.answered += answered.length;
  });
});
