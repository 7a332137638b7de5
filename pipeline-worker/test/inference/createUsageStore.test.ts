import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ClassicLevel } from "classic-level";
import { afterEach, describe, expect, it, vi } from "vitest";
import { getAddress, keccak256, toHex, zeroAddress, type Address } from "viem";
import {
  createUsageStore,
  type LaneId,
  type UsageStore,
  type VoucherFields,
} from "../../src/inference/createUsageStore.ts";
import { workerShare } from "../../src/inference/workerShare.ts";

const ALICE = getAddress("0x00000000000000000000000000000000000a11ce");
const BOB = getAddress("0x0000000000000000000000000000000000000b0b");
const directories: string[] = [];
const open: UsageStore[] = [];

afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(open.splice(0).map((store) => store.close()));
  await Promise.all(directories.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function openStore(directory?: string) {
  const dir = directory ?? (await mkdtemp(path.join(tmpdir(), "usage-store-")));
  if (directory === undefined) directories.push(dir);
  const store = await createUsageStore({ directory: dir });
  open.push(store);
  return { store, dir };
}

const fields = (total: bigint): VoucherFields => ({
  maxFeePerQuery: 10n,
  inputHash: keccak256(toHex(`input ${total}`)),
  deadline: 2_000_000_000n,
  signature: `0x${"ab".repeat(65)}`,
});
const lane = (consumer: Address, epoch = 7n, key: Address = zeroAddress): LaneId => ({ consumer, key, epoch });

async function serve(store: UsageStore, id: LaneId, total: bigint) {
  await store.load(id.consumer, id.epoch);
  return store.record(store.reserve(id, total), fields(total));
}

describe("createUsageStore", () => {
  it("keeps per lane the totals served once and the highest total's voucher, and survives a reopen", async () => {
    const { store, dir } = await openStore();
    await serve(store, lane(ALICE), 1n);
    await serve(store, lane(ALICE), 3n);
    const record = await serve(store, lane(ALICE), 2n);
    // Any unused total is accepted; the charge is the highest served, with its voucher.
    expect(record).toMatchObject({ served: 3n, charged: 3n, settledTotal: 0n, state: "open" });
    expect(record.voucher).toMatchObject({ total: 3n, inputHash: keccak256(toHex("input 3")) });
    await serve(store, lane(ALICE, 8n), 1n);
    await serve(store, lane(BOB), 5n);
    expect(store.charged(ALICE, 7n)).toBe(3n);
    expect(store.unsettled(ALICE)).toBe(4n);
    expect(store.pendingCount()).toBe(3);
    expect(store.nextTotal(lane(ALICE))).toBe(4n);
    expect(() => store.reserve(lane(ALICE), 2n)).toThrow(/Total 2 of this lane \(epoch 7\) was already served/);

    await store.close();
    open.splice(0);
    const { store: reopened } = await openStore(dir);
    expect(reopened.unsettled(ALICE)).toBe(4n);
    expect(reopened.pendingCount()).toBe(3);
    await reopened.load(ALICE, 7n);
    expect(reopened.charged(ALICE, 7n)).toBe(3n);
    expect(() => reopened.reserve(lane(ALICE), 1n)).toThrow(expect.objectContaining({ code: "TOTAL_REPLAYED" }));
    // Oldest epoch first, then by consumer and key: one entry per lane.
    expect((await reopened.listUnsettled()).map((r) => [r.lane.epoch, r.lane.consumer, r.charged])).toEqual([
      [7n, BOB, 5n],
      [7n, ALICE, 3n],
      [8n, ALICE, 1n],
    ]);
    expect((await reopened.history(ALICE)).map((r) => [r.lane.epoch, r.served, r.charged])).toEqual([
      [7n, 3n, 3n],
      [8n, 1n, 1n],
    ]);
  });

  it("settles a lane up to a total, reopens it when more is served, and drops it with a reason", async () => {
    const { store } = await openStore();
    await serve(store, lane(ALICE), 1n);
    await serve(store, lane(ALICE), 2n);
    await store.markSubmitted([{ lane: lane(ALICE), total: 2n }], "0x01");
    expect(store.lane(lane(ALICE))).toMatchObject({ state: "pending", submittedTotal: 2n, transactionHash: "0x01" });
    // Served while the settlement was in flight: the lane stays to settle once more.
    await serve(store, lane(ALICE), 3n);
    await store.markSettled([{ lane: lane(ALICE), total: 2n, paidWei: 20n }], "0x01");
    expect(store.lane(lane(ALICE))).toMatchObject({ state: "open", settledTotal: 2n, charged: 3n, paidWei: 20n });
    expect(store.unsettled(ALICE)).toBe(1n);
    expect(store.settledCount(ALICE)).toBe(2n);
    await store.markSettled([{ lane: lane(ALICE), total: 3n, paidWei: 10n }], "0x02");
    expect(store.lane(lane(ALICE))).toMatchObject({ state: "settled", settledTotal: 3n, paidWei: 30n });
    expect(store.pendingCount()).toBe(0);

    await serve(store, lane(BOB), 4n);
    await store.markDropped([lane(BOB)], "UsageExceedsQuota");
    expect(store.lane(lane(BOB))).toMatchObject({ state: "dropped", reason: "UsageExceedsQuota" });
    expect(store.unsettled(BOB)).toBe(0n);
    expect(store.charged(BOB, 7n)).toBe(4n);
  });

  it("counts reservations as charged, assigns bearer totals in order, and gathers concurrent writes into few fsyncs", async () => {
    const { store } = await openStore();
    await store.load(ALICE, 7n);
    const held = store.reserve(lane(ALICE), 5n);
    expect(store.charged(ALICE, 7n)).toBe(5n);
    expect(store.unsettled(ALICE)).toBe(5n);
    expect(() => store.reserve(lane(ALICE), 5n)).toThrow(expect.objectContaining({ code: "TOTAL_REPLAYED" }));
    held.release();
    expect(store.charged(ALICE, 7n)).toBe(0n);

    const KEY = getAddress("0x00000000000000000000000000000000000000ee");
    const batch = vi.spyOn(ClassicLevel.prototype, "batch");
    await store.load(BOB, 7n);
    await Promise.all(
      Array.from({ length: 200 }, () => store.record(store.reserveNext(lane(BOB, 7n, KEY)), fields(0n))),
    );
    expect(store.lane(lane(BOB, 7n, KEY))).toMatchObject({ served: 200n, charged: 200n });
    expect(store.nextTotal(lane(BOB, 7n, KEY))).toBe(201n);
    expect(batch.mock.calls.length).toBeLessThan(20);
    for (const call of batch.mock.calls as unknown[][]) expect(call[1]).toEqual({ sync: true });
  });

  it("writes nothing to memory when the disk write fails", async () => {
    const { store } = await openStore();
    vi.spyOn(ClassicLevel.prototype, "batch").mockRejectedValueOnce(new Error("disk full"));
    await expect(serve(store, lane(ALICE), 1n)).rejects.toMatchObject({ code: "STORAGE_UNAVAILABLE" });
    expect(store.charged(ALICE, 7n)).toBe(0n);
    expect(store.unsettled(ALICE)).toBe(0n);
    expect((await serve(store, lane(ALICE), 1n)).charged).toBe(1n);
  });
});

describe("workerShare", () => {
  it("splits every quota so that the shares add up to it exactly", () => {
    for (let workerCount = 1; workerCount <= 7; workerCount++) {
      for (let quota = 0n; quota <= 50n; quota++) {
        const shares = Array.from({ length: workerCount }, (_, workerIndex) =>
          workerShare({ quota, workerIndex, workerCount }),
        );
        expect(shares.reduce((a, b) => a + b, 0n)).toBe(quota);
        expect(shares[0]! - shares.at(-1)!).toBeLessThanOrEqual(1n);
      }
    }
    expect(workerShare({ quota: 10n, workerIndex: 0, workerCount: 3 })).toBe(4n);
    expect(workerShare({ quota: 10n, workerIndex: 2, workerCount: 3 })).toBe(3n);
    expect(() => workerShare({ quota: 10n, workerIndex: 3, workerCount: 3 })).toThrow(
      "inference.workerIndex must be a whole number from 0 to 2, got 3.",
    );
  });
});
