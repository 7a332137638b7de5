import { zeroAddress } from "viem";
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
    // The model was invoked for all six: all are counted in the lane, and their totals are spent.
    expect((await t.quotaOf(worker)).body.used).toBe("6");
    expect(worker.worker.inference.store.pendingCount()).toBe(1);
    const lane = { consumer: t.consumer.address, key: zeroAddress, epoch: BigInt(bodies[0]!.epoch) };
    expect(worker.worker.inference.store.lane(lane)).toMatchObject({ served: 6n, charged: 6n });
    for (const body of bodies) expect((await t.query(worker, body)).body.code).toBe("KILL_SWITCH_ENGAGED");
    // New queries are refused before anything is counted; settlement goes on while the switch is
    // engaged: it pays for what was served before it.
    const refused = await t.query(worker, await t.signQuery());
    expect(refused.body).toMatchObject({
      code: "KILL_SWITCH_ENGAGED",
      hints: ["The query was not counted. Only a governance proposal can lift the switch."],
    });
    expect((await t.quotaOf(worker)).body.used).toBe("6");
    expect(await worker.worker.inference.settle()).toMatchObject({ settled: 1, waiting: 0 });
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
