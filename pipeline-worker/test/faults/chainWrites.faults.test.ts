import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { QueryRequest } from "../../src/inference/createQueryService.ts";
import { describeInjected, type RpcFault } from "../helpers/createFaultyRpcProxy.ts";
import { createFaultsSystem, type FaultsSystem } from "./createFaultsSystem.ts";

// The worker's own transactions (recordContributions, settle) when the RPC loses or holds their
// answers: the transaction may have landed or not, and the worker cannot tell from the error. What
// the chain ends up with is compared with what the worker served and accepted: nothing lost, and
// nothing doubled.

const ROUNDS = process.env.SOAK ? 5 : 1;
const QUERIES = 4;

let f: FaultsSystem;
let answered = 0;
let contributions = 0;
const results: string[] = [];

beforeAll(async () => {
  f = await createFaultsSystem();
}, 120_000);
afterEach(async () => {
  await f.reset();
});
afterAll(async () => {
  console.info(`faulty flush outcomes: ${[...new Set(results)].join("; ")}`);
  console.info(
    `faults: rpc/transactions: ${describeInjected(f.proxy.injected)} injected on the worker's transactions; ` +
      `${answered} answered queries all settled once, ${contributions} contributions all recorded once; ${results.length} faulty flushes ended in a clear error or a retry`,
  );
  await f?.closeAll();
});

/**
 * The methods a transaction's fate hangs on (sending it, reading its receipt) and how their answers
 * are lost. `before`: the node never saw the call; `after`: it acted and the answer was lost. The
 * fast run takes one of each shape; SOAK=1 every combination.
 */
const CASES: [string, string, RpcFault][] = [];
for (const method of ["eth_sendRawTransaction", "eth_getTransactionReceipt"]) {
  for (const kind of ["close", "reset", "502"] as const) {
    for (const when of ["before", "after"] as const) {
      const fast =
        method === "eth_sendRawTransaction"
          ? when === "after" || kind === "close"
          : when === "after" && kind !== "reset";
      if (fast || process.env.SOAK) CASES.push([method, `${kind} ${when}`, { kind, when }]);
    }
  }
}

describe("settling usage while the RPC loses answers", () => {
  it.each(CASES)("%s, %s: every answered query is settled exactly once", async (method, _name, fault) => {
    const w = await f.startWorker();
    const served: QueryRequest[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < QUERIES; i++) {
        const body = await f.signQuery();
        const response = await f.query(w.url, body);
        expect(response.status).toBe(200);
        served.push(body);
      }
      f.proxy.inject({ methods: [method], fault, times: 4 });
      const outcome = await w.worker.inference.settle().then(
        (result) => `settled ${result.settled}, waiting ${result.waiting}`,
        (error: unknown) => (error as Error).name,
      );
      results.push(outcome);
      f.proxy.clear();
      // The next flush finds out what happened and finishes the job without sending anything twice.
      for (let attempt = 0; attempt < 3 && w.worker.inference.store.pendingCount() > 0; attempt++) {
        await w.worker.inference.settle();
      }
      expect(w.worker.inference.store.pendingCount()).toBe(0);
    }
    expect(await f.settledEvents()).toBe(BigInt(served.length));
    expect(await f.readSettlement<bigint>("settledUsage", [f.consumer.address, await f.currentEpoch()])).toBe(
      BigInt(served.length),
    );
    for (const body of served) expect(await f.nonceUsed(body.nonce)).toBe(true);
    answered += served.length;
  });

  it("a worker restarted after its settle transaction's answer was lost settles nothing twice", async () => {
    const w = await f.startWorker();
    const served: QueryRequest[] = [];
    for (let i = 0; i < QUERIES; i++) {
      const body = await f.signQuery();
      expect((await f.query(w.url, body)).status).toBe(200);
      served.push(body);
    }
    // The transaction lands; its hash never reaches the worker, which then stops.
    f.proxy.inject({ methods: ["eth_sendRawTransaction"], fault: { kind: "close", when: "after" } });
    await expect(w.worker.inference.settle()).rejects.toThrow();
    await w.close();
    f.proxy.clear();
    const again = await f.startWorker({ dataDir: w.dataDir });
    const address = f.workerWallets[0]!.account.address;
    const nonce = await f.publicClient.getTransactionCount({ address });
    expect(await again.worker.inference.settle()).toMatchObject({ settled: QUERIES, transactions: [] });
    expect(await f.publicClient.getTransactionCount({ address })).toBe(nonce);
    expect(await f.settledEvents()).toBe(BigInt(QUERIES));
    answered += served.length;
  });
});

describe("recording contributions while the RPC loses answers", () => {
  it.each(CASES)("%s, %s: every stored submission is recorded exactly once", async (method, _name, fault) => {
    const w = await f.startWorker();
    const stored: { id: string; dataHash: `0x${string}` }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const { data, envelope } = await w.submitter.prepare();
      const id = (await w.submitter.post(envelope)).json.id as string;
      expect((await w.submitter.put(id, data)).json.state).toBe("stored");
      stored.push({ id, dataHash: envelope.dataHash });
      f.proxy.inject({ methods: [method], fault, times: 4 });
      results.push(await w.worker.flush().then(String, (error: unknown) => (error as Error).name));
      f.proxy.clear();
      for (let attempt = 0; attempt < 3; attempt++) await w.worker.flush();
    }
    for (const { id, dataHash } of stored) {
      expect(await f.timesRecorded(dataHash)).toBe(1);
      const status = (await (await fetch(`${w.url}/v1/submissions/${id}`)).json()) as { state: string };
      expect(status.state).toBe("recorded");
    }
    contributions += stored.length;
  });
});
