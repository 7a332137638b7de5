import { describe, expect, it } from "vitest";
import type { Address } from "viem";
import { availableOf, createDepositCache, type ConsumerAccount } from "../../src/inference/createDepositCache.ts";

const alice: Address = "0x00000000000000000000000000000000000a11ce";
const bob: Address = "0x0000000000000000000000000000000000000b0b";

/** A chain whose deposits the test sets, counting the reads. */
function fakeChain() {
  const balances = new Map<Address, bigint>();
  const settled = new Map<Address, bigint>();
  let reads = 0;
  let failNext = false;
  const cache = createDepositCache({
    async read(consumer) {
      reads++;
      if (failNext) {
        failNext = false;
        throw new Error("RPC down");
      }
      return { balance: balances.get(consumer) ?? 0n, pendingWithdrawal: 0n, unlocksAt: 0n };
    },
    settledCount: (consumer) => settled.get(consumer) ?? 0n,
    maxEntries: 2,
  });
  return {
    cache,
    balances,
    settled,
    reads: () => reads,
    failNextRead: () => (failNext = true),
  };
}

describe("createDepositCache", () => {
  it("reads a consumer's deposit once per head block, and again at a new head", async () => {
    const chain = fakeChain();
    chain.balances.set(alice, 10n);
    expect((await chain.cache.account(alice, "head-1")).balance).toBe(10n);
    chain.balances.set(alice, 3n);
    expect((await chain.cache.account(alice, "head-1")).balance).toBe(10n);
    expect(chain.reads()).toBe(1);
    expect((await chain.cache.account(alice, "head-2")).balance).toBe(3n);
    expect((await chain.cache.account(alice, "head-2", { fresh: true })).balance).toBe(3n);
    expect(chain.reads()).toBe(3);
  });

  it("reads again once one of the consumer's queries left the unsettled list (its fee was charged)", async () => {
    const chain = fakeChain();
    chain.balances.set(alice, 10n);
    await chain.cache.account(alice, "head-1");
    chain.balances.set(alice, 9n);
    chain.settled.set(alice, 1n);
    expect((await chain.cache.account(alice, "head-1")).balance).toBe(9n);
  });

  it("does not keep a failed read, and forgets the oldest consumer past its size", async () => {
    const chain = fakeChain();
    chain.failNextRead();
    await expect(chain.cache.account(alice, "head-1")).rejects.toThrow("RPC down");
    chain.balances.set(alice, 5n);
    expect((await chain.cache.account(alice, "head-1")).balance).toBe(5n);
    await chain.cache.account(bob, "head-1");
    await chain.cache.account("0x0000000000000000000000000000000000000c0c", "head-1");
    expect(chain.cache.size()).toBe(2);
    const before = chain.reads();
    await chain.cache.account(alice, "head-1");
    expect(chain.reads()).toBe(before + 1);
  });
});

describe("availableOf", () => {
  const account = (pendingWithdrawal: bigint, unlocksAt: bigint): ConsumerAccount => ({
    balance: 100n,
    pendingWithdrawal,
    unlocksAt,
  });

  it("counts a requested withdrawal as gone from the moment it is requested, locked or not (capped at the balance)", () => {
    expect(availableOf(account(0n, 0n))).toBe(100n);
    expect(availableOf(account(30n, 60n))).toBe(70n);
    expect(availableOf(account(30n, 50n))).toBe(70n);
    expect(availableOf(account(500n, 10n))).toBe(0n);
  });
});
