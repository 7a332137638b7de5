import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  createPublicClient,
  getAddress,
  http,
  keccak256,
  parseEther,
  toHex,
  zeroAddress,
  type Address,
  type PublicClient,
} from "viem";
import { privateKeyToAccount, generatePrivateKey } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { usageSettlementAbi } from "../../../deployments/abis.ts";
import { createGovernance, registryAction } from "../../../test/helpers/governance.ts";
import { createQueries, type Voucher } from "../../../test/helpers/queries.ts";
import { createSystem, type System } from "../../../test/helpers/system.ts";
import { createApiServer } from "../../src/api/createApiServer.ts";
import { USAGE_CSV_COLUMNS, usageHistorySchema, type UsageHistory } from "../../src/api/consumerWire.ts";
import { ERROR_DOCS_PATH } from "../../src/api/routes/registerHealthRoutes.ts";
import { registerUsageRoutes } from "../../src/api/routes/registerUsageRoutes.ts";
import { createUsageStore, type LaneId, type UsageStore } from "../../src/inference/createUsageStore.ts";
import { createLogger } from "../../src/internal/createLogger.ts";
import { createMetrics } from "../../src/internal/createMetrics.ts";

// A consumer's usage history as it asks for it (GET /v1/usage, JSON or CSV): what the worker
// served per lane and epoch, from the worker's real usage store, and what is settled, read from
// the real UsageSettlement on an in-process chain.

const FEE = parseEther("0.001");

let system: System;
let queries: ReturnType<typeof createQueries>;
let store: UsageStore;
let directory: string;
let consumer: Address;
let worker: Address;
const keyAddress = privateKeyToAccount(generatePrivateKey()).address;
const vouchers = new Map<bigint, Voucher>();

function serverWith(publicClient: PublicClient) {
  const app = createApiServer({
    logger: createLogger({ level: "silent" }),
    metrics: createMetrics({ defaultMetrics: false }),
    docsUrl: ERROR_DOCS_PATH,
  });
  registerUsageRoutes(app, {
    store,
    worker,
    publicClient,
    usageSettlement: system.deployment.contracts.usageSettlement,
  });
  return app;
}
let app: ReturnType<typeof serverWith>;

async function history(query = `consumer=${consumer}`, headers: Record<string, string> = {}) {
  const response = await app.inject({ method: "GET", url: `/v1/usage?${query}`, headers });
  const json = /^application\/(problem\+)?json/.test(String(response.headers["content-type"]));
  return { response, body: (json ? response.json() : undefined) as UsageHistory & { code?: string; detail?: string } };
}

/** The worker serves `count` queries of the consumer's own lane, each with its signed voucher. */
async function serveSigned(epoch: bigint, count: number) {
  const lane: LaneId = { consumer, key: zeroAddress, epoch };
  await store.load(consumer, epoch);
  for (let i = 0; i < count; i++) {
    const total = store.nextTotal(lane);
    const voucher = await queries.sign(system.accounts.consumer, { total, epoch, maxFeePerQuery: FEE });
    vouchers.set(total, voucher);
    await store.record(store.reserve(lane, total), voucher);
  }
}

/** The worker serves `count` queries of an API key's lane (bearer: its own count, no voucher). */
async function serveBearer(epoch: bigint, count: number) {
  const lane: LaneId = { consumer, key: keyAddress, epoch };
  await store.load(consumer, epoch);
  for (let i = 0; i < count; i++) {
    await store.record(store.reserveNext(lane), {
      maxFeePerQuery: FEE,
      inputHash: keccak256(toHex(`bearer ${i}`)),
      deadline: 0n,
    });
  }
}

beforeAll(async () => {
  system = await createSystem();
  await system.delegateAll();
  consumer = getAddress(system.accounts.consumer.account.address);
  worker = getAddress(system.accounts.worker.account.address);
  await createGovernance(system).pass([
    registryAction(system, "setWorker", [worker, true]),
    registryAction(system, "setQuota", [consumer, 100n]),
    registryAction(system, "setQueryFee", [FEE]),
  ]);
  queries = createQueries(system);
  await system.wait(await queries.deposit(system.accounts.consumer, parseEther("1")));
  directory = await mkdtemp(path.join(tmpdir(), "usage-routes-"));
  store = await createUsageStore({ directory, sync: false });
  app = serverWith(system.publicClient);
});

afterAll(async () => {
  await app?.close();
  await store?.close();
  await rm(directory, { recursive: true, force: true });
});

describe("GET /v1/usage", () => {
  it("lists each lane of each epoch, newest first: served, charged, settled on chain, paid", async () => {
    const epoch = await queries.currentEpoch();
    await serveSigned(epoch, 3);
    await serveBearer(epoch, 2);

    const first = await history();
    let body = first.body;
    expect(first.response.statusCode).toBe(200);
    expect(usageHistorySchema.parse(body)).toEqual(body);
    expect(body).toMatchObject({ consumer, worker });
    const lane = (key: Address) => body.lanes.find((l) => l.key === key);
    expect(lane(zeroAddress)).toEqual({
      epoch: epoch.toString(),
      key: zeroAddress,
      worker,
      served: "3",
      charged: "3",
      settledTotal: "0",
      paidWei: "0",
      state: "open",
      transactionHash: null,
      reason: null,
    });
    expect(lane(keyAddress)).toMatchObject({ served: "2", charged: "2", settledTotal: "0", state: "open" });

    // The worker settles the wallet's lane with its latest voucher: one entry for three queries.
    const hash = await queries.settle([vouchers.get(3n)!]);
    const receipt = await system.wait(hash);
    // Before the worker records it, the chain already says so: the settled total is read there.
    ({ body } = await history());
    expect(lane(zeroAddress)).toMatchObject({ settledTotal: "3", state: "settled" });
    await store.markSettled([{ lane: { consumer, key: zeroAddress, epoch }, total: 3n, paidWei: 3n * FEE }], hash);
    ({ body } = await history());
    expect(lane(zeroAddress)).toMatchObject({
      settledTotal: "3",
      paidWei: (3n * FEE).toString(),
      state: "settled",
      transactionHash: receipt.transactionHash,
    });
    expect(
      await system.publicClient.readContract({
        address: system.deployment.contracts.usageSettlement,
        abi: usageSettlementAbi,
        functionName: "usedInEpoch",
        args: [consumer, epoch],
      }),
    ).toBe(3n);

    // A later epoch comes first.
    await system.testClient.increaseTime({ seconds: 3_600 * 24 });
    await system.testClient.mine({ blocks: 1 });
    const next = await queries.currentEpoch();
    expect(next).toBeGreaterThan(epoch);
    await serveSigned(next, 1);
    ({ body } = await history());
    expect(body.lanes.map((l) => [l.epoch, l.key])).toEqual([
      [next.toString(), zeroAddress],
      [epoch.toString(), keyAddress],
      [epoch.toString(), zeroAddress],
    ]);
  });

  it("exports CSV, by ?format=csv or by Accept: text/csv, one row per lane under a header", async () => {
    const json = (await history()).body;
    const asked = await history(`consumer=${consumer}&format=csv`);
    const negotiated = await history(`consumer=${consumer}`, { accept: "text/csv" });
    for (const { response } of [asked, negotiated]) {
      expect(response.statusCode).toBe(200);
      expect(response.headers["content-type"]).toBe("text/csv; charset=utf-8");
      expect(response.headers["content-disposition"]).toBe(`attachment; filename="usage-${consumer}.csv"`);
      const [header, ...rows] = response.body.trimEnd().split("\n");
      expect(header).toBe(USAGE_CSV_COLUMNS.join(","));
      expect(rows).toEqual(
        json.lanes.map((l) =>
          [consumer, l.epoch, l.worker, l.key, l.served, l.charged, l.settledTotal, l.paidWei, l.state]
            .concat([l.transactionHash ?? "", l.reason ?? ""])
            .join(","),
        ),
      );
    }
    // A client that prefers JSON gets JSON.
    const preferred = await history(`consumer=${consumer}`, { accept: "text/csv;q=0.5, application/json" });
    expect(preferred.response.headers["content-type"]).toMatch(/^application\/json/);
    expect(preferred.body).toEqual(json);
  });

  it("answers a consumer it never served with no lanes", async () => {
    const { response, body } = await history(`consumer=${system.accounts.outsider.account.address}`);
    expect(response.statusCode).toBe(200);
    expect(body.lanes).toEqual([]);
  });

  it("refuses a malformed consumer or format with VALIDATION_FAILED", async () => {
    for (const query of ["consumer=0x1234", "", `consumer=${consumer}&format=xml`, `consumer=${consumer}&extra=1`]) {
      const { response, body } = await history(query);
      expect(response.statusCode, query).toBe(400);
      expect(body.code, query).toBe("VALIDATION_FAILED");
    }
  });

  it("says CHAIN_UNAVAILABLE, retryable, when the chain cannot be read for a lane not settled yet", async () => {
    const unreachable = createPublicClient({
      transport: http("http://127.0.0.1:1", { retryCount: 0 }),
    }) as PublicClient;
    const offline = serverWith(unreachable);
    try {
      const response = await offline.inject({ method: "GET", url: `/v1/usage?consumer=${consumer}` });
      expect(response.statusCode).toBe(503);
      expect(response.json()).toMatchObject({ code: "CHAIN_UNAVAILABLE" });
    } finally {
      await offline.close();
    }
  });
});
