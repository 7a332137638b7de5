import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { policyRegistryAbi } from "../../../deployments/abis.ts";
import type { SignedQueryRequest } from "../../src/api/consumerWire.ts";
import { describeInjected, type RpcFault } from "../helpers/createFaultyRpcProxy.ts";
import { createFaultsSystem, type FaultsSystem } from "./createFaultsSystem.ts";

// A worker built from its configuration, whose rpcUrl is a faulty proxy. While it cannot confirm
// its policy, every query and submission is refused with POLICY_STALE saying why, and it serves
// again once the RPC heals. Its own transactions (recordContributions, settle) when the RPC loses
// their answers: the transaction may have landed or not, and the worker cannot tell from the
// error. What the chain ends up with is compared with what the worker served and accepted:
// nothing lost, and nothing doubled.

const ROUNDS = process.env.SOAK ? 5 : 1;
const QUERIES = 4;

let f: FaultsSystem;
let answered = 0;
let contributions = 0;
const results: string[] = [];
const refusals: string[] = [];
let reorged = 0;

beforeAll(async () => {
  f = await createFaultsSystem();
}, 120_000);
afterEach(async () => {
  await f.reset();
});
afterAll(async () => {
  console.info(
    `faults: rpc/worker: ${describeInjected(f.proxy.injected)} injected; while its policy could not be confirmed every ` +
      `request was refused (${[...new Set(refusals)].join(", ")}); under lost transaction answers ${answered} answered ` +
      `queries were all settled once and ${contributions} contributions all recorded once (faulty flushes ended: ` +
      `${[...new Set(results)].join("; ")}); a reorg that dropped the settle and record transactions: ${reorged} queries ` +
      `and 1 contribution sent again and settled or recorded once`,
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
          ? (kind === "close" && when === "before") || (kind !== "close" && when === "after")
          : kind === "close" && when === "after";
      if (fast || process.env.SOAK) CASES.push([method, `${kind} ${when}`, { kind, when }]);
    }
  }
  // Held a moment and then let through: late, but not lost.
  for (const when of ["before", "after"] as const) {
    if (when === "after" || process.env.SOAK) CASES.push([method, `stall ${when}`, { kind: "stall", when }]);
  }
}

/** Sends QUERIES signed queries, one at a time, each answered; returns them. */
async function serve(url: string): Promise<SignedQueryRequest[]> {
  const served: SignedQueryRequest[] = [];
  for (let i = 0; i < QUERIES; i++) {
    const body = await f.signQuery();
    expect((await f.query(url, body)).status).toBe(200);
    served.push(body);
  }
  return served;
}

/** Runs `action` under `fault`; a stalled request is let go after a moment, as a slow network does. */
async function underFault<T>(method: string, fault: RpcFault, action: () => Promise<T>): Promise<T> {
  f.proxy.inject({ methods: [method], fault, times: 4 });
  const releasing = setInterval(() => f.proxy.release(), 300);
  try {
    return await action();
  } finally {
    clearInterval(releasing);
    f.proxy.clear();
  }
}

describe("requests while the worker cannot confirm its policy", () => {
  it("refuses queries and submissions with POLICY_STALE while the RPC is down, and serves once it is back", async () => {
    const w = await f.startWorker();
    expect((await f.query(w.url, await f.signQuery())).status).toBe(200);
    for (let round = 0; round < ROUNDS; round++) {
      f.proxy.inject({ fault: { kind: round % 2 === 0 ? "close" : "502", when: "before" } });
      await expect(w.worker.policySync.poll()).rejects.toMatchObject({ code: "CHAIN_UNAVAILABLE" });
      const refused = await f.query(w.url, await f.signQuery());
      expect(refused.status).toBe(503);
      expect(refused.body).toMatchObject({ code: "POLICY_STALE", reason: "sync-failed", retryable: true });
      expect(String(refused.body.detail)).toMatch(/the last poll of the chain failed/);
      const ready = await fetch(`${w.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { code: string }).code).toBe("POLICY_STALE");
      const { envelope } = await w.submitter.prepare();
      f.proxy.clear();
      f.proxy.inject({ fault: { kind: "reset", when: "before" } });
      const submission = await w.submitter.post(envelope);
      expect(submission.status).toBe(503);
      expect(submission.json.code).toBe("POLICY_STALE");
      refusals.push("POLICY_STALE");

      f.proxy.clear();
      await w.worker.policySync.poll();
      expect((await f.query(w.url, await f.signQuery())).status).toBe(200);
      expect((await w.submitter.post(envelope)).status).toBe(201);
    }
  });

  it("keeps refusing after a kill switch even when a lagging replica answers from before it", async () => {
    const w = await f.startWorker();
    f.proxy.freeze();
    await f.wait(
      await f.accounts.guardian.writeContract({
        address: f.deployment.contracts.policyRegistry,
        abi: policyRegistryAbi,
        functionName: "engageKillSwitch",
        args: ["incident"],
      }),
    );
    await w.worker.policySync.poll();
    expect((await f.query(w.url, await f.signQuery())).body.code).toBe("KILL_SWITCH_ENGAGED");
    f.proxy.inject({ fault: { kind: "stale" } });
    await w.worker.policySync.poll().catch(() => undefined);
    const refused = await f.query(w.url, await f.signQuery());
    expect(refused.status).not.toBe(200);
    expect(["KILL_SWITCH_ENGAGED", "POLICY_STALE"]).toContain(refused.body.code);
    refusals.push(String(refused.body.code));
  });
});

describe("a reorg that drops the worker's transactions", () => {
  it("with confirmations, settles and records again what the reorg took away; nothing is lost", async () => {
    // The set-up's last grants (the contributor, the committee) get their two confirmations.
    await f.testClient.mine({ blocks: 2 });
    const w = await f.startWorker({ confirmations: 2 });
    const served: SignedQueryRequest[] = [];
    served.push(...(await serve(w.url)));
    const { data, envelope } = await w.submitter.prepare();
    const id = (await w.submitter.post(envelope)).json.id as string;
    expect((await w.submitter.put(id, data)).json.state).toBe("stored");

    // Both transactions are mined, then a reorg replaces their blocks with others.
    const fork = await f.testClient.snapshot();
    expect(await w.worker.inference.settle()).toMatchObject({ settled: 1 });
    expect(await w.worker.flush()).toBe(0);
    expect(await f.timesRecorded(envelope.dataHash)).toBe(1);
    await f.testClient.revert({ id: fork });
    await f.testClient.mine({ blocks: 3 });
    expect(await f.settledEvents()).toBe(0n);
    expect(await f.timesRecorded(envelope.dataHash)).toBe(0);
    // The store counts lanes: the consumer's one lane, waiting again with its QUERIES.
    expect(w.worker.inference.store.pendingCount()).toBe(1);

    // Sent again, and final once deep enough.
    await w.worker.inference.settle();
    await w.worker.flush();
    await f.testClient.mine({ blocks: 2 });
    expect(await w.worker.inference.settle()).toMatchObject({ settled: 1, transactions: [] });
    expect(await w.worker.flush()).toBe(1);
    expect(w.worker.inference.store.pendingCount()).toBe(0);
    expect(await f.settledEvents()).toBe(BigInt(QUERIES));
    // One entry for the lane, at its highest total: the reorged one is gone, the resent one stays.
    expect(await f.usageSettled()).toHaveLength(1);
    expect(await f.laneSettledTotal(BigInt(served[0]!.epoch))).toBe(BigInt(QUERIES));
    for (const body of served) expect(await f.totalSettled(body)).toBe(true);
    expect(await f.timesRecorded(envelope.dataHash)).toBe(1);
    const status = (await (await fetch(`${w.url}/v1/submissions/${id}`)).json()) as { state: string };
    expect(status.state).toBe("recorded");
    reorged += QUERIES;
  });
});

describe("the worker's transactions while the RPC loses their answers", () => {
  // One worker per fault settles usage and records a contribution: a transaction of each kind.
  it.each(CASES)(
    "%s, %s: every answered query is settled and every stored submission recorded, exactly once",
    async (method, _name, fault) => {
      const w = await f.startWorker();
      const served: SignedQueryRequest[] = [];
      const stored: { id: string; dataHash: `0x${string}` }[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        served.push(...(await serve(w.url)));
        const { data, envelope } = await w.submitter.prepare();
        const id = (await w.submitter.post(envelope)).json.id as string;
        expect((await w.submitter.put(id, data)).json.state).toBe("stored");
        stored.push({ id, dataHash: envelope.dataHash });

        results.push(
          await underFault(method, fault, () => w.worker.inference.settle()).then(
            (result) => `settle went through (late, or viem's retries absorbed it): ${result.settled} settled`,
            (error: unknown) => `settle threw ${(error as Error).name}`,
          ),
        );
        results.push(
          await underFault(method, fault, () => w.worker.flush()).then(
            (recorded) => `record went through (late, or viem's retries absorbed it): ${recorded} recorded`,
            (error: unknown) => `record threw ${(error as Error).name}`,
          ),
        );
        // The next flushes find out what happened and finish the job without sending anything twice.
        for (let attempt = 0; attempt < 3 && w.worker.inference.store.pendingCount() > 0; attempt++) {
          await w.worker.inference.settle();
        }
        expect(w.worker.inference.store.pendingCount()).toBe(0);
        for (let attempt = 0; attempt < 3; attempt++) await w.worker.flush();
      }
      // The test's own lane (its worker is fresh and the chain rewound): charged its served
      // queries, one UsageSettled entry per flush that found it grown, never one sent twice.
      expect(await f.settledEvents()).toBe(BigInt(served.length));
      expect(await f.usageSettled()).toHaveLength(ROUNDS);
      expect(await f.laneSettledTotal(BigInt(served[0]!.epoch))).toBe(BigInt(served.length));
      expect(await f.readSettlement<bigint>("usedInEpoch", [f.consumer.address, await f.currentEpoch()])).toBe(
        BigInt(served.length),
      );
      for (const body of served) expect(await f.totalSettled(body)).toBe(true);
      for (const { id, dataHash } of stored) {
        expect(await f.timesRecorded(dataHash)).toBe(1);
        const status = (await (await fetch(`${w.url}/v1/submissions/${id}`)).json()) as { state: string };
        expect(status.state).toBe("recorded");
      }
      answered += served.length;
      contributions += stored.length;
    },
  );

  it("a worker restarted after its settle transaction's answer was lost settles nothing twice", async () => {
    const w = await f.startWorker();
    const served: SignedQueryRequest[] = [];
    served.push(...(await serve(w.url)));
    // The transaction lands; its hash never reaches the worker, which then stops.
    f.proxy.inject({ methods: ["eth_sendRawTransaction"], fault: { kind: "close", when: "after" } });
    await expect(w.worker.inference.settle()).rejects.toThrow();
    await w.close();
    f.proxy.clear();
    const again = await f.startWorker({ dataDir: w.dataDir });
    const address = f.workerWallets[0]!.account.address;
    const nonce = await f.publicClient.getTransactionCount({ address });
    expect(await again.worker.inference.settle()).toMatchObject({ settled: 1, transactions: [] });
    expect(await f.publicClient.getTransactionCount({ address })).toBe(nonce);
    expect(await f.settledEvents()).toBe(BigInt(QUERIES));
    expect(await f.usageSettled()).toHaveLength(1);
    expect(await f.laneSettledTotal(BigInt(served[0]!.epoch))).toBe(BigInt(QUERIES));
    answered += served.length;
  });
});
