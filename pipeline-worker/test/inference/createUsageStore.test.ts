import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ClassicLevel } from "classic-level";
import { afterEach, describe, expect, it, vi } from "vitest";
import { getAddress, keccak256, toHex, type Address } from "viem";
import { createUsageStore, type QueryVoucher, type UsageStore } from "../../src/inference/createUsageStore.ts";
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

const voucher = (consumer: Address, nonce: bigint, epoch = 7n): QueryVoucher => ({
  consumer,
  inputHash: keccak256(toHex(`input ${nonce}`)),
  nonce,
  epoch,
  deadline: 2_000_000_000n,
  signature: `0x${"ab".repeat(65)}`,
});

describe("createUsageStore", () => {
  it("counts per consumer and epoch, keeps vouchers for settlement, and survives a reopen", async () => {
    const { store, dir } = await openStore();
    expect(await store.used(ALICE, 7n)).toBe(0n);
    expect((await store.record(voucher(ALICE, 1n))).used).toBe(1n);
    expect((await store.record(voucher(ALICE, 2n))).used).toBe(2n);
    await store.record(voucher(ALICE, 3n, 8n));
    await store.record(voucher(BOB, 1n));
    expect(store.usedNow(ALICE, 7n)).toBe(2n);
    expect(store.unsettled(ALICE)).toBe(3n);
    expect(store.pendingCount()).toBe(4);

    await store.close();
    open.splice(0);
    const { store: reopened } = await openStore(dir);
    expect(await reopened.used(ALICE, 7n)).toBe(2n);
    expect(await reopened.used(ALICE, 8n)).toBe(1n);
    expect(await reopened.used(BOB, 7n)).toBe(1n);
    expect(reopened.unsettled(ALICE)).toBe(3n);
    expect(reopened.pendingCount()).toBe(4);
    // Oldest epoch first, so a settlement batch makes one fee transfer per epoch (then by address, nonce).
    expect((await reopened.listUnsettled()).map((r) => [r.voucher.epoch, r.voucher.consumer, r.voucher.nonce])).toEqual(
      [
        [7n, BOB, 1n],
        [7n, ALICE, 1n],
        [7n, ALICE, 2n],
        [8n, ALICE, 3n],
      ],
    );
    await expect(reopened.record(voucher(ALICE, 2n))).rejects.toThrow(`Nonce 2 of ${ALICE} was already used.`);
  });

  it("moves vouchers through submitted to settled or dropped; settled ones still count", async () => {
    const { store } = await openStore();
    const [a, b, c] = [voucher(ALICE, 1n), voucher(ALICE, 2n), voucher(ALICE, 3n)];
    for (const v of [a, b, c]) await store.record(v);
    await store.markSubmitted([a, b], "0x01");
    expect((await store.get(ALICE, 1n))?.state).toBe("submitted");
    await store.markSettled([a, b], "0x01");
    await store.markDropped([c], "UsageExceedsQuota");
    expect(await store.get(ALICE, 3n)).toMatchObject({ state: "dropped", reason: "UsageExceedsQuota" });
    // A final state is final.
    await store.markSubmitted([a], "0x02");
    expect(await store.get(ALICE, 1n)).toMatchObject({ state: "settled", transactionHash: "0x01" });
    expect(store.pendingCount()).toBe(0);
    expect(store.unsettled(ALICE)).toBe(0n);
    expect(store.usedNow(ALICE, 7n)).toBe(3n);
  });

  it("records one of two concurrent writes of a nonce, and gathers concurrent writes into few fsyncs", async () => {
    const { store } = await openStore();
    const results = await Promise.allSettled([store.record(voucher(ALICE, 1n)), store.record(voucher(ALICE, 1n))]);
    expect(results.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);

    const batch = vi.spyOn(ClassicLevel.prototype, "batch");
    const many = await Promise.all(Array.from({ length: 200 }, (_, i) => store.record(voucher(BOB, BigInt(i)))));
    expect(many.map((r) => r.used).sort((x, y) => Number(x - y))).toEqual(
      Array.from({ length: 200 }, (_, i) => BigInt(i + 1)),
    );
    expect(batch.mock.calls.length).toBeLessThan(20);
    for (const call of batch.mock.calls as unknown[][]) expect(call[1]).toEqual({ sync: true });
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
