import { zeroAddress } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyGrantTypedData } from "../../../test/helpers/queryTypedData.ts";
import { bearerTokenOf } from "../../src/api/consumerWire.ts";
import { createEmbeddedModel, trainEmbeddedModel } from "../../src/model/createEmbeddedModel.ts";
import { generateScamMessages } from "../../src/model/generateScamMessages.ts";
import { createInferenceTestSystem, type InferenceTestSystem } from "../inference/createInferenceTestSystem.ts";

// Bearer queries per CPU-second of one worker with the embedded model: the requests go through the
// worker's HTTP stack in process (Fastify's inject), so the figure is the worker's own CPU time
// (authentication, checks, the durable count, the model, the answer), with no curve operation per
// query. Prints the figure; BEARER_BENCH_QUERIES sets the number of queries (default 3,000).
// Run: npx vitest run pipeline-worker/test/keys/bearerThroughput.test.ts

const QUERIES = Number(process.env.BEARER_BENCH_QUERIES ?? 3_000);
const CONCURRENCY = 32;

let t: InferenceTestSystem;

beforeAll(async () => {
  // A fee small enough for the deposit to pay every query: the deposit check runs and never refuses.
  t = await createInferenceTestSystem({ quota: BigInt(QUERIES) * 2n, fee: 1_000_000_000n });
});
afterAll(async () => {
  await t.cleanUp();
});

describe("bearer throughput", () => {
  it("serves bearer queries with no curve operation each, and settles them in one entry", async () => {
    const model = createEmbeddedModel({ weights: trainEmbeddedModel(generateScamMessages({ seed: 1, count: 2000 })) });
    const worker = await t.startWorker({ model });
    const privateKey = generatePrivateKey();
    const grant = {
      consumer: t.consumer.address,
      key: privateKeyToAccount(privateKey).address,
      worker: zeroAddress,
      maxQueries: BigInt(QUERIES) * 2n,
      maxFeePerQuery: t.fee,
      expiresAt: BigInt(Math.floor(t.clock.now() / 1000)) + 3600n,
    };
    const signature = await t.consumer.signTypedData(
      keyGrantTypedData({
        chainId: t.deployment.chainId,
        usageSettlement: t.deployment.contracts.usageSettlement,
        message: grant,
      }),
    );
    const registered = await worker.worker.app.inject({
      method: "POST",
      url: "/v1/keys",
      payload: {
        grant: {
          ...grant,
          maxQueries: grant.maxQueries.toString(),
          maxFeePerQuery: grant.maxFeePerQuery.toString(),
          expiresAt: grant.expiresAt.toString(),
        },
        signature,
      },
    });
    expect(registered.statusCode).toBe(201);
    const headers = { authorization: `Bearer ${bearerTokenOf(privateKey)}` };
    const inputs = generateScamMessages({ seed: 3, count: 256 }).map((record) => record.text);
    let sent = 0;
    const send = async () => {
      const response = await worker.worker.app.inject({
        method: "POST",
        url: "/v1/queries",
        headers,
        payload: { input: inputs[sent++ % inputs.length]! },
      });
      expect(response.statusCode, response.body).toBe(200);
    };
    const run = async (count: number) => {
      const end = sent + count;
      const lane = async () => {
        while (sent < end) await send();
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, lane));
    };
    await run(200); // JIT warm-up, the key's address derived and its state read once.
    const cpu = process.cpuUsage();
    const started = performance.now();
    await run(QUERIES);
    const used = process.cpuUsage(cpu);
    const cpuSeconds = (used.user + used.system) / 1e6;
    const wallSeconds = (performance.now() - started) / 1000;
    console.log(
      `bearer queries: ${QUERIES} in ${wallSeconds.toFixed(2)} s wall, ${cpuSeconds.toFixed(2)} CPU-s: ${Math.round(QUERIES / cpuSeconds)} per CPU-second (${Math.round(QUERIES / wallSeconds)} per second)`,
    );

    const settled = await worker.worker.inference.settle();
    expect(settled.transactions).toHaveLength(1);
    expect(await t.readSettlement<readonly [bigint, bigint]>("keyState", [t.consumer.address, grant.key])).toEqual([
      BigInt(QUERIES + 200),
      0n,
    ]);
  });
});
