import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { policyRegistryAbi } from "../../../deployments/abis.ts";
import { createKeywordModel } from "./createKeywordModel.ts";
import { createInferenceTestSystem, type InferenceTestSystem } from "./createInferenceTestSystem.ts";

let t: InferenceTestSystem;

beforeAll(async () => {
  t = await createInferenceTestSystem({ quota: 10n });
});
beforeEach(async () => {
  await t.reset();
});
afterAll(async () => {
  await t.cleanUp();
});

async function engageKillSwitch(reason: string) {
  await t.wait(
    await t.accounts.guardian.writeContract({
      address: t.deployment.contracts.policyRegistry,
      abi: policyRegistryAbi,
      functionName: "engageKillSwitch",
      args: [reason],
    }),
  );
}

async function until(condition: () => boolean) {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 2));
  expect(condition()).toBe(true);
}

describe("kill switch engaged mid-stream", () => {
  it("refuses the queries in flight when the switch is seen, aborts the model, and counts and settles none of them", async () => {
    const model = createKeywordModel();
    const worker = await t.startWorker({ model });
    // Two queries served before the switch.
    for (let i = 0; i < 2; i++) expect((await t.query(worker, await t.signQuery())).status).toBe(200);

    model.hold();
    const bodies = await Promise.all(Array.from({ length: 4 }, () => t.signQuery()));
    const inFlight = bodies.map((body) => t.query(worker, body));
    await until(() => model.calls.started === 6);
    expect(worker.worker.inference.queries.inFlight()).toBe(4);

    await engageKillSwitch("extraction attack under way");
    // The sync acts on an engaged switch as soon as it sees it (no confirmations needed).
    await worker.worker.policySync.poll();
    const responses = await Promise.all(inFlight);
    for (const response of responses) {
      expect(response.status).toBe(503);
      expect(response.body).toMatchObject({
        code: "KILL_SWITCH_ENGAGED",
        detail: "The kill switch is engaged: extraction attack under way",
        reason: "extraction attack under way",
      });
    }
    expect(model.calls.aborted).toBe(4);
    expect(worker.worker.inference.queries.inFlight()).toBe(0);
    // Only the two answered queries are counted and waiting to be settled.
    expect((await t.quotaOf(worker)).body.used).toBe("2");
    expect(worker.worker.inference.store.pendingCount()).toBe(2);
    for (const body of bodies)
      expect(await worker.worker.inference.store.get(t.consumer.address, BigInt(body.nonce))).toBe(undefined);
    // New queries are refused too, and settlement waits while the switch is engaged.
    expect((await t.query(worker, await t.signQuery())).body.code).toBe("KILL_SWITCH_ENGAGED");
    expect(await worker.worker.inference.settle()).toMatchObject({ settled: 0, waiting: 2, transactions: [] });
    model.release();
  });

  it("refuses a query whose answer is ready but not yet returned when the switch is seen", async () => {
    const model = createKeywordModel();
    const worker = await t.startWorker({ model });
    const store = worker.worker.inference.store;
    // Engage the switch while the usage write is on its way to disk: the answer must not go out.
    const record = store.record.bind(store);
    let engaged = false;
    store.record = async (...args) => {
      const result = await record(...args);
      if (!engaged) {
        engaged = true;
        await engageKillSwitch("stop now");
        await worker.worker.policySync.poll();
      }
      return result;
    };
    const body = await t.signQuery();
    const response = await t.query(worker, body);
    expect(response.status).toBe(503);
    expect(response.body.code).toBe("KILL_SWITCH_ENGAGED");
    expect(model.calls.answered).toBe(1);
    // Counted for a moment, then uncounted: nothing stays to be settled.
    expect((await t.quotaOf(worker)).body.used).toBe("0");
    expect(store.pendingCount()).toBe(0);
    expect(await store.get(t.consumer.address, BigInt(body.nonce))).toBe(undefined);
  });
});
