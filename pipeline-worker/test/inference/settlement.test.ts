import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { usageSettlementAbi } from "../../../deployments/abis.ts";
import { registryAction } from "../../../test/helpers/governance.ts";
import { createInferenceTestSystem, DEPOSIT, type InferenceTestSystem } from "./createInferenceTestSystem.ts";

let t: InferenceTestSystem;
const QUOTA = 6n;

beforeAll(async () => {
  t = await createInferenceTestSystem({ quota: QUOTA });
});
beforeEach(async () => {
  await t.reset();
});
afterAll(async () => {
  await t.cleanUp();
});

const balanceOf = async (consumer = t.consumer.address) =>
  (await t.readSettlement<readonly bigint[]>("accountOf", [consumer]))[0]!;

describe("usage across restarts", () => {
  it("keeps every counted query through a restart: no double count, nothing lost, replays still refused", async () => {
    let worker = await t.startWorker();
    const served = [];
    for (let i = 0; i < 4; i++) {
      const body = await t.signQuery();
      expect((await t.query(worker, body)).status).toBe(200);
      served.push(body);
    }
    worker = await worker.restart();
    expect((await t.quotaOf(worker)).body).toMatchObject({ used: "4", remaining: "2" });
    for (const body of served) expect((await t.query(worker, body)).body.code).toBe("NONCE_REPLAYED");
    expect((await t.query(worker, await t.signQuery())).body.usage.used).toBe("5");
    expect((await t.query(worker, await t.signQuery())).body.usage.used).toBe("6");
    expect((await t.query(worker, await t.signQuery())).body.code).toBe("QUOTA_EXHAUSTED");

    // Everything served is settled once, however many restarts came between.
    worker = await worker.restart();
    expect(worker.worker.inference.store.pendingCount()).toBe(6);
    expect(await worker.worker.inference.settle()).toMatchObject({ settled: 6, dropped: 0, waiting: 0 });
    worker = await worker.restart();
    expect(worker.worker.inference.store.pendingCount()).toBe(0);
    expect((await worker.worker.inference.settle()).transactions).toEqual([]);
    expect(await t.readSettlement("settledUsage", [t.consumer.address, await t.currentEpoch()])).toBe(6n);
  });
});

describe("settlement on chain", () => {
  it("moves each served query's fee to the epoch's reward pool; settled usage equals what was served", async () => {
    const worker = await t.startWorker({ inference: { settlementBatchSize: 4 } });
    const epoch = await t.currentEpoch();
    const poolBefore = await t.poolOf(epoch);
    for (let i = 0n; i < QUOTA; i++) expect((await t.query(worker, await t.signQuery())).status).toBe(200);
    expect(await t.readSettlement("settledUsage", [t.consumer.address, epoch])).toBe(0n);

    const result = await worker.worker.inference.settle();
    // Batches of at most four: two transactions for six queries.
    expect(result).toMatchObject({ settled: 6, dropped: 0, waiting: 0 });
    expect(result.transactions).toHaveLength(2);
    expect(await t.readSettlement("settledUsage", [t.consumer.address, epoch])).toBe(QUOTA);
    expect(await t.poolOf(epoch)).toBe(poolBefore + QUOTA * t.fee);
    expect(await balanceOf()).toBe(DEPOSIT - QUOTA * t.fee);
    expect(worker.worker.inference.store.pendingCount()).toBe(0);
    const records = await worker.worker.inference.store.listUnsettled();
    expect(records).toEqual([]);
  });

  it("works through a backlog longer than a page in one flush, never holding more than a page", async () => {
    // Batches of one: a page is four vouchers, so six queries take two pages.
    const worker = await t.startWorker({ inference: { settlementBatchSize: 1 } });
    for (let i = 0n; i < QUOTA; i++) expect((await t.query(worker, await t.signQuery())).status).toBe(200);
    const { store } = worker.worker.inference;
    const pages: number[] = [];
    const listUnsettled = store.listUnsettled.bind(store);
    store.listUnsettled = async (options) => {
      const page = await listUnsettled(options);
      pages.push(page.length);
      return page;
    };
    const result = await worker.worker.inference.settle();
    expect(result).toMatchObject({ settled: 6, dropped: 0, waiting: 0 });
    expect(result.transactions).toHaveLength(6);
    expect(pages).toEqual([4, 2]);
    expect(await t.readSettlement("settledUsage", [t.consumer.address, await t.currentEpoch()])).toBe(QUOTA);
  });

  it("estimates gas once, then checks each later batch with one call at a limit taken from that estimate", async () => {
    // A node's eth_estimateGas runs the call many times over; a call at a given limit runs once.
    const worker = await t.startWorker({ inference: { settlementBatchSize: 2 } });
    for (let i = 0; i < 4; i++) expect((await t.query(worker, await t.signQuery())).status).toBe(200);
    const client = t.publicClient;
    const { estimateContractGas, simulateContract } = client;
    const calls = { estimates: 0, checks: [] as (bigint | undefined)[] };
    let failNextCheck = false;
    client.estimateContractGas = (async (...args: Parameters<typeof estimateContractGas>) => {
      calls.estimates++;
      return estimateContractGas(...args);
    }) as unknown as typeof estimateContractGas;
    client.simulateContract = (async (...args: Parameters<typeof simulateContract>) => {
      calls.checks.push(args[0].gas);
      if (failNextCheck) {
        failNextCheck = false;
        throw new Error("out of gas (as a node words it)");
      }
      return simulateContract(...args);
    }) as unknown as typeof simulateContract;
    try {
      const first = await worker.worker.inference.settle();
      expect(first).toMatchObject({ settled: 4, dropped: 0, waiting: 0 });
      expect(first.transactions).toHaveLength(2);
      expect(calls.estimates).toBe(1);
      expect(calls.checks).toHaveLength(1);
      expect(calls.checks[0]).toBeGreaterThan(0n);
      const sent = await client.getTransaction({ hash: first.transactions[1]! });
      expect(sent.gas).toBe(calls.checks[0]);

      // A check that fails at its limit (or for any other reason) is settled by a new estimate.
      failNextCheck = true;
      for (let i = 0; i < 2; i++) expect((await t.query(worker, await t.signQuery())).status).toBe(200);
      expect(await worker.worker.inference.settle()).toMatchObject({ settled: 2, dropped: 0, waiting: 0 });
      expect(calls.estimates).toBe(2);
    } finally {
      client.estimateContractGas = estimateContractGas;
      client.simulateContract = simulateContract;
    }
  });

  it("settles queries of a past epoch into that epoch's pool", async () => {
    const worker = await t.startWorker();
    const epoch = await t.currentEpoch();
    for (let i = 0; i < 2; i++) expect((await t.query(worker, await t.signQuery())).status).toBe(200);
    await t.advanceTime(Number(t.deployment.settings.epochLength));
    expect((await t.query(worker, await t.signQuery())).status).toBe(200);
    const poolBefore = await t.poolOf(epoch);
    expect(await worker.worker.inference.settle()).toMatchObject({ settled: 3 });
    expect(await t.poolOf(epoch)).toBe(poolBefore + 2n * t.fee);
    expect(await t.readSettlement("settledUsage", [t.consumer.address, epoch])).toBe(2n);
    expect(await t.readSettlement("settledUsage", [t.consumer.address, epoch + 1n])).toBe(1n);
  });

  it("does not send twice what landed before a crash: it checks isNonceUsed first", async () => {
    const worker = await t.startWorker();
    for (let i = 0; i < 3; i++) expect((await t.query(worker, await t.signQuery())).status).toBe(200);
    const pending = (await worker.worker.inference.store.listUnsettled()).map((r) => r.voucher);
    // The worker sent two of them and crashed before it wrote down that it had.
    await t.wait(
      await t.workerWallets[0]!.writeContract({
        address: t.deployment.contracts.usageSettlement,
        abi: usageSettlementAbi,
        functionName: "settle",
        args: [pending.slice(0, 2)],
      }),
    );
    const restarted = await worker.restart();
    const result = await restarted.worker.inference.settle();
    expect(result).toMatchObject({ settled: 3, dropped: 0, waiting: 0 });
    expect(result.transactions).toHaveLength(1);
    expect(await t.readSettlement("settledUsage", [t.consumer.address, await t.currentEpoch()])).toBe(3n);
    expect(await balanceOf()).toBe(DEPOSIT - 3n * t.fee);
  });

  it("drops what the contract refuses for good (quota lowered after serving) and settles the rest", async () => {
    const worker = await t.startWorker();
    const nonces: bigint[] = [];
    for (let i = 0n; i < 5n; i++) {
      const body = await t.signQuery();
      expect((await t.query(worker, body)).status).toBe(200);
      nonces.push(BigInt(body.nonce));
    }
    await t.pass([registryAction(t, "setQuota", [t.consumer.address, 3n])]);
    await t.clock.sync();
    const result = await worker.worker.inference.settle();
    expect(result).toMatchObject({ settled: 3, dropped: 2, waiting: 0 });
    expect(await t.readSettlement("settledUsage", [t.consumer.address, await t.currentEpoch()])).toBe(3n);
    const states = [];
    for (const nonce of nonces) {
      const record = await worker.worker.inference.store.get(t.consumer.address, nonce);
      states.push(record?.state === "dropped" ? `dropped: ${record.reason}` : record?.state);
    }
    // Settled oldest first: the first three fit the new quota, the last two never will.
    expect(states).toEqual([
      "settled",
      "settled",
      "settled",
      "dropped: UsageExceedsQuota",
      "dropped: UsageExceedsQuota",
    ]);
    expect(worker.worker.inference.store.pendingCount()).toBe(0);
  });

  it("leaves a consumer's queries waiting while its deposit is short, and settles them after a top-up", async () => {
    const worker = await t.startWorker();
    for (let i = 0; i < 3; i++) expect((await t.query(worker, await t.signQuery())).status).toBe(200);
    // The consumer withdraws nearly everything (possible once the withdrawal unlocks).
    await t.wait(
      await t.accounts.consumer.writeContract({
        address: t.deployment.contracts.usageSettlement,
        abi: usageSettlementAbi,
        functionName: "requestWithdrawal",
        args: [DEPOSIT - t.fee],
      }),
    );
    await t.testClient.increaseTime({ seconds: 3 * Number(t.deployment.settings.epochLength) });
    await t.testClient.mine({ blocks: 1 });
    await t.wait(
      await t.accounts.consumer.writeContract({
        address: t.deployment.contracts.usageSettlement,
        abi: usageSettlementAbi,
        functionName: "withdraw",
      }),
    );
    const result = await worker.worker.inference.settle();
    expect(result).toMatchObject({ settled: 1, dropped: 0, waiting: 2 });
    await t.wait(
      await t.accounts.consumer.writeContract({
        address: t.deployment.contracts.usageSettlement,
        abi: usageSettlementAbi,
        functionName: "deposit",
        args: [t.consumer.address],
        value: DEPOSIT,
      }),
    );
    expect(await worker.worker.inference.settle()).toMatchObject({ settled: 2, waiting: 0 });
  });
});
