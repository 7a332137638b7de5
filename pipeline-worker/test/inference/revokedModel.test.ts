// A worker loads its model once, at start; governance can revoke the model's training run later
// (a poisoned run, a withdrawn approval). The keyholders then refuse its key to any new worker, and
// a worker that already holds the weights must stop answering with them too.
import { keccak256, toHex, type Hex } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registryAction } from "../../../test/helpers/governance.ts";
import { createKeywordModel } from "./createKeywordModel.ts";
import { createInferenceTestSystem, type InferenceTestSystem } from "./createInferenceTestSystem.ts";

let t: InferenceTestSystem;
const runId = keccak256(toHex("the served model's run")) as Hex;

beforeAll(async () => {
  t = await createInferenceTestSystem({ quota: 10n });
  const { timestamp } = await t.publicClient.getBlock();
  await t.governance.pass([
    registryAction(t, "approveTrainingRun", [
      runId,
      keccak256(toHex("spec")),
      t.workerWallets[0]!.account.address,
      timestamp + 86_400n,
    ]),
  ]);
});
afterAll(async () => {
  await t.cleanUp();
});

describe("a model whose training run governance revoked", () => {
  it("a worker stops serving a model once its training run is revoked, and counts nothing", async () => {
    const model = { ...createKeywordModel(), runId };
    const worker = await t.startWorker({ model });
    expect((await t.query(worker, await t.signQuery())).status).toBe(200);
    const before = await t.quotaOf(worker);

    await t.governance.pass([registryAction(t, "revokeTrainingRun", [runId])]);
    await worker.worker.policySync.poll();

    const refused = await t.query(worker, await t.signQuery());
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ code: "MODEL_REVOKED", runId });
    // The same refusal through OpenAI's route, and nothing counted by either.
    const body = { model: model.id, messages: [{ role: "user", content: "still there?" }] };
    const chat = await worker.worker.app.inject({
      method: "POST",
      url: "/v1/chat/completions",
      headers: await t.signChat(body),
      payload: body,
    });
    expect(chat.statusCode).toBe(503);
    expect(chat.json()).toMatchObject({ error: { code: "MODEL_REVOKED" } });
    expect((await t.quotaOf(worker)).body).toEqual(before.body);
  });
});
