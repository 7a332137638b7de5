import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  getAddress,
  keccak256,
  maxUint64,
  parseSignature,
  serializeSignature,
  toHex,
  zeroAddress,
  type Hex,
} from "viem";
import { policyRegistryAbi, usageSettlementAbi } from "../../../deployments/abis.ts";
import { registryAction } from "../../../test/helpers/governance.ts";
import { verifyQueryReceipt } from "../../src/inference/queryReceipt.ts";
import { createUnconfiguredModel } from "../../src/inference/createUnconfiguredModel.ts";
import { createKeywordModel } from "./createKeywordModel.ts";
import {
  createInferenceTestSystem,
  DEPOSIT,
  devAccount,
  QUOTA,
  type InferenceTestSystem,
} from "./createInferenceTestSystem.ts";

let t: InferenceTestSystem;

beforeAll(async () => {
  t = await createInferenceTestSystem({ workers: 2 });
});
beforeEach(async () => {
  await t.reset();
});
afterAll(async () => {
  await t.cleanUp();
});

/** secp256k1's group order: `n - s` is the other, malleable, signature of the same message. */
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

describe("POST /v1/queries: within quota", () => {
  it("serves exactly the quota, then refuses with QUOTA_EXHAUSTED and when it resets", async () => {
    const worker = await t.startWorker();
    const epoch = await t.currentEpoch();
    const epochEnd = await t.readRegistry<bigint>("epochEnd", [epoch]);
    for (let i = 1n; i <= QUOTA; i++) {
      const body = await t.signQuery({ input: "URGENT: verify your wallet to claim the prize" });
      const response = await t.query(worker, body);
      expect(response.status).toBe(200);
      expect(response.body.answer).toEqual({ label: "scam", score: "high" });
      expect(response.body.usage).toEqual({
        epoch: epoch.toString(),
        epochEndsAt: Number(epochEnd),
        quota: QUOTA.toString(),
        used: i.toString(),
        remaining: (QUOTA - i).toString(),
        share: { workerIndex: 0, workerCount: 1, queries: QUOTA.toString() },
        nextTotal: (i + 1n).toString(),
      });
    }
    const refused = await t.query(worker, await t.signQuery());
    expect(refused.status).toBe(429);
    expect(refused.headers["content-type"]).toContain("application/problem+json");
    expect(refused.body).toMatchObject({
      code: "QUOTA_EXHAUSTED",
      detail: `Total ${QUOTA + 1n} would take ${t.consumer.address} past its ${QUOTA} queries of epoch ${epoch}.`,
      resetsAt: Number(epochEnd),
      epoch: epoch.toString(),
      quota: QUOTA.toString(),
      used: QUOTA.toString(),
    });
    const retryAfter = Number(refused.headers["retry-after"]);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(Number(epochEnd) - Math.floor(t.clock.now() / 1000) + 1);
    expect((await t.quotaOf(worker)).body).toMatchObject({ used: QUOTA.toString(), remaining: "0" });
  });

  it("restores the quota in the next epoch", async () => {
    const worker = await t.startWorker();
    for (let i = 0n; i < QUOTA; i++) expect((await t.query(worker, await t.signQuery())).status).toBe(200);
    expect((await t.query(worker, await t.signQuery())).body.code).toBe("QUOTA_EXHAUSTED");

    const epoch = await t.currentEpoch();
    await t.advanceTime(Number(t.deployment.settings.epochLength));
    expect(await t.currentEpoch()).toBe(epoch + 1n);
    const response = await t.query(worker, await t.signQuery());
    expect(response.status).toBe(200);
    expect(response.body.usage).toMatchObject({ epoch: (epoch + 1n).toString(), used: "1" });
    expect((await t.quotaOf(worker)).body).toMatchObject({ epoch: (epoch + 1n).toString(), used: "1", remaining: "4" });
  });

  it("serves no more than the quota to concurrent queries", async () => {
    const worker = await t.startWorker();
    const bodies = await Promise.all(Array.from({ length: 4 * Number(QUOTA) }, () => t.signQuery()));
    const responses = await Promise.all(bodies.map((body) => t.query(worker, body)));
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(Number(QUOTA));
    expect(statuses.filter((s) => s === 429)).toHaveLength(3 * Number(QUOTA));
    // Totals 1 to 5 are served, whatever order they arrive in; the charge is the highest, 5.
    const served = responses.flatMap((r, i) => (r.status === 200 ? [bodies[i]!.total] : []));
    expect(served.sort()).toEqual(["1", "2", "3", "4", "5"]);
    expect((await t.quotaOf(worker)).body).toMatchObject({ used: "5", nextTotal: "6" });
  });

  it("accepts any unused total, charges the highest, and refuses a total past the quota", async () => {
    const worker = await t.startWorker();
    expect((await t.query(worker, await t.signQuery({ total: 3n }))).body.usage).toMatchObject({
      used: "3",
      remaining: "2",
      nextTotal: "4",
    });
    // Totals 1 and 2 were signed away by the jump to 3, but may still be used.
    expect((await t.query(worker, await t.signQuery({ total: 1n }))).body.usage).toMatchObject({ used: "3" });
    expect(await t.query(worker, await t.signQuery({ total: 6n }))).toMatchObject({
      status: 429,
      body: { code: "QUOTA_EXHAUSTED", used: "3" },
    });
    expect((await t.query(worker, await t.signQuery({ total: 5n }))).body.usage).toMatchObject({
      used: "5",
      remaining: "0",
    });
    const lane = { consumer: t.consumer.address, key: zeroAddress, epoch: await t.currentEpoch() };
    expect(worker.worker.inference.store.lane(lane)).toMatchObject({ served: 3n, charged: 5n });
  });

  it("answers with the label and a coarse score only, and a receipt the consumer can check", async () => {
    const worker = await t.startWorker();
    const body = await t.signQuery({ input: "lunch at noon?" });
    const response = await t.query(worker, body);
    expect(response.status).toBe(200);
    // The test model also returns a probability; it must not reach the consumer.
    expect(response.body.answer).toEqual({ label: "legit", score: "low" });
    const { receipt } = response.body;
    const usage = {
      consumer: t.consumer.address,
      key: zeroAddress,
      worker: worker.address,
      epoch: BigInt(body.epoch),
      total: BigInt(body.total),
      maxFeePerQuery: BigInt(body.maxFeePerQuery),
      inputHash: keccak256(toHex(body.input)),
      deadline: BigInt(body.deadline),
    };
    const verify = (overrides: Partial<Parameters<typeof verifyQueryReceipt>[0]>) =>
      verifyQueryReceipt({
        receipt,
        usage,
        answer: response.body.answer,
        chainId: t.deployment.chainId,
        usageSettlement: t.deployment.contracts.usageSettlement,
        client: t.publicClient,
        policyRegistry: t.deployment.contracts.policyRegistry,
        ...overrides,
      });
    expect(await verify({})).toBe(worker.address);
    expect(receipt).toMatchObject({ worker: worker.address, model: "keyword-test-model-v1", total: "1", quota: "5" });
    // The voucher digest the receipt binds is the contract's digest of the voucher.
    expect(receipt.usageDigest).toBe(
      await t.readSettlement("usageDigest", [
        usage.consumer,
        usage.key,
        usage.worker,
        usage.epoch,
        usage.total,
        usage.maxFeePerQuery,
        usage.inputHash,
        usage.deadline,
      ]),
    );
    await expect(verify({ answer: { label: "scam", score: "low" } })).rejects.toThrow("it is for another answer");
    await expect(verify({ usage: { ...usage, total: 2n } })).rejects.toThrow("it is for another voucher");
    await expect(verify({ receipt: { ...receipt, quota: "6" } })).rejects.toThrow(
      "its digest is not the digest of its fields",
    );
    // A worker the DAO removed no longer vouches for anything.
    await t.pass([registryAction(t, "setWorker", [worker.address, false])]);
    await expect(verify({})).rejects.toThrow("is not an authorised worker");
  });

  it("reports the quota, usage and epoch end of a consumer", async () => {
    const worker = await t.startWorker();
    await t.query(worker, await t.signQuery());
    const epoch = await t.currentEpoch();
    const response = await t.quotaOf(worker);
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      consumer: t.consumer.address,
      worker: worker.address,
      feePerQuery: t.fee.toString(),
      nextTotal: "2",
      epoch: epoch.toString(),
      epochEndsAt: Number(await t.readRegistry<bigint>("epochEnd", [epoch])),
      quota: "5",
      used: "1",
      remaining: "4",
      share: { workerIndex: 0, workerCount: 1, queries: "5" },
    });
    expect((await worker.worker.app.inject({ url: `/v1/quota?consumer=${t.consumer.address}` })).json()).toEqual(
      response.body,
    );
    const outsider = await t.quotaOf(worker, t.accounts.outsider.account.address);
    expect(outsider.body).toMatchObject({ quota: "0", used: "0", remaining: "0" });
    expect((await worker.worker.app.inject({ url: "/v1/quota/0x1234" })).json().code).toBe("VALIDATION_FAILED");
  });

  it("counts queries by outcome in the metrics", async () => {
    const worker = await t.startWorker();
    await t.query(worker, await t.signQuery());
    await t.query(worker, await t.signQuery({ epoch: 999n }));
    const metrics = (await worker.worker.app.inject({ url: "/metrics" })).body;
    expect(metrics).toContain('worker_queries_total{outcome="served"} 1');
    expect(metrics).toContain('worker_queries_total{outcome="WRONG_EPOCH"} 1');
    expect(metrics).toContain("worker_query_seconds_count 1");
  });
});

describe("POST /v1/queries: refusals", () => {
  async function refusal(body: unknown, worker?: Awaited<ReturnType<InferenceTestSystem["startWorker"]>>) {
    const response = await t.query(worker ?? (await t.startWorker()), body);
    expect(response.headers["content-type"]).toContain("application/problem+json");
    return { status: response.status, ...response.body } as { status: number; code: string; detail: string };
  }

  it("refuses a replayed total (TOTAL_REPLAYED), and the same voucher sent twice at once is served once", async () => {
    const worker = await t.startWorker();
    const body = await t.signQuery();
    expect((await t.query(worker, body)).status).toBe(200);
    expect(await refusal(body, worker)).toMatchObject({
      status: 409,
      code: "TOTAL_REPLAYED",
      detail: `Total ${body.total} of this lane (epoch ${body.epoch}) was already served.`,
    });
    // The total is spent whatever the input.
    expect((await refusal(await t.signQuery({ total: BigInt(body.total), input: "other" }), worker)).code).toBe(
      "TOTAL_REPLAYED",
    );
    const twice = await t.signQuery();
    const statuses = (await Promise.all([t.query(worker, twice), t.query(worker, twice)])).map((r) => r.status);
    expect(statuses.sort()).toEqual([200, 409]);
    expect((await t.quotaOf(worker)).body.used).toBe("2");
    // A restart keeps the totals served.
    const restarted = await worker.restart();
    expect((await refusal(twice, restarted)).code).toBe("TOTAL_REPLAYED");
  });

  it("refuses a query once a vote raised the fee above its signed maximum, and charges a voucher signed before the rise at most its maximum", async () => {
    const worker = await t.startWorker();
    expect((await t.query(worker, await t.signQuery())).status).toBe(200);
    await t.pass([registryAction(t, "setQueryFee", [10n * t.fee])]);
    await t.clock.sync();
    await worker.worker.policySync.poll();
    expect(await refusal(await t.signQuery(), worker)).toMatchObject({
      status: 402,
      code: "FEE_ABOVE_MAXIMUM",
      feePerQuery: (10n * t.fee).toString(),
      maxFeePerQuery: t.fee.toString(),
    });
    // The voucher served before the vote is charged the fee it signed, not the new one.
    const [balanceBefore] = await t.readSettlement<readonly [bigint]>("accountOf", [t.consumer.address]);
    expect(await worker.worker.inference.settle()).toMatchObject({ settled: 1, dropped: 0 });
    const [balanceAfter] = await t.readSettlement<readonly [bigint]>("accountOf", [t.consumer.address]);
    expect(balanceBefore - balanceAfter).toBe(t.fee);
    // Signed with the new fee as its maximum, the next total is served.
    expect((await t.query(worker, await t.signQuery({ maxFeePerQuery: 10n * t.fee }))).status).toBe(200);
  });

  it("refuses a signature by another key, over another input, for another chain or contract, or with high s", async () => {
    const worker = await t.startWorker();
    const invalid = { status: 401, code: "SIGNATURE_INVALID" };
    const notConsumers = "The signature is not the consumer's over this Usage voucher.";
    expect(await refusal(await t.signQuery({ signer: devAccount(9), consumer: t.consumer.address }), worker)).toEqual(
      expect.objectContaining({ ...invalid, detail: notConsumers }),
    );
    expect(await refusal(await t.signQuery({ signedInput: "something else" }), worker)).toMatchObject(invalid);
    expect(await refusal(await t.signQuery({ chainId: 1 }), worker)).toMatchObject({
      ...invalid,
      detail: notConsumers,
    });
    expect(
      await refusal(await t.signQuery({ usageSettlement: t.deployment.contracts.policyRegistry }), worker),
    ).toMatchObject({ ...invalid, detail: notConsumers });
    const body = await t.signQuery();
    const { r, s, yParity } = parseSignature(body.signature);
    const highS = serializeSignature({
      r,
      s: toHex(SECP256K1_N - BigInt(s), { size: 32 }),
      yParity: yParity === 0 ? 1 : 0,
    });
    // A high-s copy is refused by ECDSA, as by the contract; the consumer has no code, so no ERC-1271 either.
    expect(await refusal({ ...body, signature: highS }, worker)).toMatchObject({ ...invalid, detail: notConsumers });
    // A voucher for another worker is not good here.
    expect(await refusal(await t.signQuery({ worker: t.consumer.address }), worker)).toMatchObject(invalid);
    expect(await refusal({ ...body, signature: `0x${"00".repeat(65)}` as Hex }, worker)).toMatchObject(invalid);
    // None of them counted, and the well-signed original is still served.
    expect((await t.quotaOf(worker)).body.used).toBe("0");
    expect((await t.query(worker, body)).status).toBe(200);
    expect((await t.quotaOf(worker)).body.used).toBe(body.total);
  });

  it("refuses an expired query", async () => {
    const deadline = BigInt(Math.floor(t.clock.now() / 1000)) - 1n;
    expect(await refusal(await t.signQuery({ deadline }))).toMatchObject({
      status: 401,
      code: "SIGNATURE_EXPIRED",
      detail: `The voucher expired at ${new Date(Number(deadline) * 1000).toISOString()}.`,
    });
  });

  it("refuses a query for another epoch, saying which is current", async () => {
    const epoch = await t.currentEpoch();
    const response = await refusal(await t.signQuery({ epoch: epoch + 1n }));
    expect(response).toMatchObject({
      status: 422,
      code: "WRONG_EPOCH",
      detail: `The voucher is signed for epoch ${epoch + 1n}; the current epoch is ${epoch}.`,
      currentEpoch: epoch.toString(),
      epochEndsAt: Number(await t.readRegistry<bigint>("epochEnd", [epoch])),
    });
  });

  it("refuses a consumer without a quota, and one whose quota governance removed", async () => {
    const outsider = devAccount(9);
    expect(await refusal(await t.signQuery({ signer: outsider }))).toMatchObject({
      status: 403,
      code: "NO_QUOTA",
      detail: `${outsider.address} has no query quota in epoch ${await t.currentEpoch()}.`,
    });
    await t.pass([registryAction(t, "setQuota", [t.consumer.address, 0n])]);
    await t.clock.sync();
    expect((await refusal(await t.signQuery())).code).toBe("NO_QUOTA");
  });

  it("refuses a consumer whose deposit does not cover the fee", async () => {
    const poor = devAccount(10);
    await t.pass([registryAction(t, "setQuota", [poor.address, 3n])]);
    await t.clock.sync();
    const worker = await t.startWorker();
    expect(await refusal(await t.signQuery({ signer: poor }), worker)).toMatchObject({
      status: 402,
      code: "DEPOSIT_INSUFFICIENT",
      balance: "0",
      owed: t.fee.toString(),
    });
    // Two fees deposited pay for two queries; the third would be owed and not covered.
    await t.wait(
      await t.accounts.attester2.writeContract({
        address: t.deployment.contracts.usageSettlement,
        abi: usageSettlementAbi,
        functionName: "deposit",
        args: [poor.address],
        value: 2n * t.fee,
      }),
    );
    // The refused total 1 was never served: the consumer signs it again.
    expect((await t.query(worker, await t.signQuery({ signer: poor, total: 1n }))).status).toBe(200);
    expect((await t.query(worker, await t.signQuery({ signer: poor, total: 2n }))).status).toBe(200);
    expect((await refusal(await t.signQuery({ signer: poor, total: 3n }), worker)).code).toBe("DEPOSIT_INSUFFICIENT");
  });

  it("counts a requested withdrawal as gone at once, before it unlocks, and settles the consumer's lane at once", async () => {
    const worker = await t.startWorker();
    expect((await t.query(worker, await t.signQuery())).status).toBe(200);
    // All but two fees: one is owed for the query served, one is left for the next.
    await t.wait(
      await t.accounts.consumer.writeContract({
        address: t.deployment.contracts.usageSettlement,
        abi: usageSettlementAbi,
        functionName: "requestWithdrawal",
        args: [DEPOSIT - 2n * t.fee],
      }),
    );
    await worker.worker.policySync.poll();
    expect((await t.query(worker, await t.signQuery())).status).toBe(200);
    expect(await refusal(await t.signQuery(), worker)).toMatchObject({
      code: "DEPOSIT_INSUFFICIENT",
      balance: (2n * t.fee).toString(),
      owed: (3n * t.fee).toString(),
    });
    // The settler sees the request and settles the consumer's lane now, before its epoch ends.
    await worker.worker.inference.settlement.watch();
    expect(await worker.worker.inference.settle({})).toMatchObject({ settled: 1 });
    const epoch = await t.currentEpoch();
    expect(await t.readSettlement("settledTotal", [t.consumer.address, zeroAddress, worker.address, epoch])).toBe(2n);
  });

  it("serves and settles each worker's lane on its own: a voucher names its worker", async () => {
    const first = await t.startWorker();
    const other = await t.startWorker({ account: 1 });
    expect((await t.query(first, await t.signQuery({ worker: first.address }))).status).toBe(200);
    expect((await t.query(other, await t.signQuery({ worker: other.address }))).status).toBe(200);
    expect((await refusal(await t.signQuery({ worker: first.address }), other)).code).toBe("SIGNATURE_INVALID");
    expect((await first.worker.inference.settle()).settled).toBe(1);
    expect((await other.worker.inference.settle()).settled).toBe(1);
    expect(await t.readSettlement("usedInEpoch", [t.consumer.address, await t.currentEpoch()])).toBe(2n);
  });

  it("refuses when the kill switch is engaged, when the policy is stale, and when the worker is not authorised", async () => {
    const stale = await t.startWorker({ noPoll: true });
    expect(await refusal(await t.signQuery(), stale)).toMatchObject({ status: 503, code: "POLICY_STALE" });

    const stranger = await t.startWorker({ wallet: t.accounts.outsider });
    expect(await refusal(await t.signQuery(), stranger)).toMatchObject({
      status: 503,
      code: "WORKER_NOT_AUTHORISED",
      detail: `This worker (${getAddress(t.accounts.outsider.account.address)}) is not authorised by the DAO.`,
    });

    const worker = await t.startWorker();
    await t.wait(
      await t.accounts.guardian.writeContract({
        address: t.deployment.contracts.policyRegistry,
        abi: policyRegistryAbi,
        functionName: "engageKillSwitch",
        args: ["model leaks training data"],
      }),
    );
    await worker.worker.policySync.poll();
    expect(await refusal(await t.signQuery(), worker)).toMatchObject({
      status: 503,
      code: "KILL_SWITCH_ENGAGED",
      detail: "The kill switch is engaged: model leaks training data",
    });
  });

  it("refuses malformed bodies before anything else", async () => {
    const worker = await t.startWorker();
    const body = await t.signQuery();
    for (const bad of [
      { ...body, input: "x".repeat(257) },
      { ...body, input: "" },
      { ...body, total: "-1" },
      { ...body, total: "1.5" },
      { ...body, total: "0" },
      { ...body, maxFeePerQuery: "0x10" },
      { ...body, epoch: 0 },
      { ...body, consumer: "0x1234" },
      { ...body, extra: true },
      { ...body, deadline: "soon" },
    ]) {
      expect((await refusal(bad, worker)).code).toBe("VALIDATION_FAILED");
    }
    expect(await refusal({ ...body, total: (maxUint64 + 1n).toString() }, worker)).toMatchObject({
      code: "VALIDATION_FAILED",
      detail: "The request is invalid: total must be a decimal uint64 (at most 18446744073709551615).",
    });
    // An address in any letter case is the same consumer.
    const upper = `0x${body.consumer.slice(2).toUpperCase()}`;
    expect((await t.query(worker, { ...body, consumer: upper })).status).toBe(200);
  });

  it("refuses, and counts nothing, when the worker has no model", async () => {
    const worker = await t.startWorker({ model: createUnconfiguredModel() });
    const body = await t.signQuery();
    expect(await refusal(body, worker)).toMatchObject({
      status: 503,
      code: "MODEL_UNAVAILABLE",
      detail: "This worker has no model to answer with.",
    });
    expect((await t.quotaOf(worker)).body.used).toBe("0");
    expect(worker.worker.inference.store.pendingCount()).toBe(0);
    // Nothing was invoked: the same signed query is still good for a worker with a model.
    expect((await t.query(await t.startWorker(), body)).status).toBe(200);
  });

  it("counts a query whose model answers outside its contract, and refuses it as any model failure", async () => {
    const broken = createKeywordModel();
    broken.classify = async () => ({ label: "scam", score: 0.97 }) as never;
    const worker = await t.startWorker({ model: broken });
    const body = await t.signQuery();
    expect(await refusal(body, worker)).toMatchObject({
      status: 503,
      code: "MODEL_FAILED",
      detail: "The model failed to answer. The query was counted.",
    });
    expect((await t.quotaOf(worker)).body.used).toBe("1");
    expect((await refusal(body, worker)).code).toBe("TOTAL_REPLAYED");
  });
});
