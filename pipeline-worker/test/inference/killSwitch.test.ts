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
  it("refuses the queries in flight when the switch is seen and aborts the model; they stay counted, as the model ran, and nothing is settled while it is engaged", async () => {
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
        hints: ["The query was counted: the model had been invoked when the switch engaged."],
      });
    }
    expect(model.calls.aborted).toBe(4);
    expect(worker.worker.inference.queries.inFlight()).toBe(0);
    // The model was invoked for all six: all are counted, and their nonces are spent.
    expect((await t.quotaOf(worker)).body.used).toBe("6");
    expect(worker.worker.inference.store.pendingCount()).toBe(6);
    for (const body of bodies)
      expect(await worker.worker.inference.store.get(t.consumer.address, BigInt(body.nonce))).toBeDefined();
    // New queries are refused before anything is counted, and settlement waits while the switch is engaged.
    const refused = await t.query(worker, await t.signQuery());
    expect(refused.body).toMatchObject({
      code: "KILL_SWITCH_ENGAGED",
      hints: ["The query was not counted. Only a governance proposal can lift the switch."],
    });
    expect((await t.quotaOf(worker)).body.used).toBe("6");
    expect(await worker.worker.inference.settle()).toMatchObject({ settled: 0, waiting: 6, transactions: [] });
    model.release();
  });

  it("withholds an answer that is ready but not yet returned when the switch is seen", async () => {
    const keywords = createKeywordModel();
    const started: { worker?: Awaited<ReturnType<InferenceTestSystem["startWorker"]>> } = {};
    const model = {
      ...keywords,
      async classify(input: string, options?: { signal?: AbortSignal }) {
        const answer = await keywords.classify(input, options);
        await engageKillSwitch("stop now");
        await started.worker!.worker.policySync.poll();
        return answer;
      },
    };
    const worker = (started.worker = await t.startWorker({ model }));
    const response = await t.query(worker, await t.signQuery());
    expect(response.status).toBe(503);
    expect(response.body.code).toBe("KILL_SWITCH_ENGAGED");
    expect(response.body).not.toHaveProperty("answer");
    expect(keywords.calls.answered).toBe(1);
    expect((await t.quotaOf(worker)).body.used).toBe("1");
  });
});
