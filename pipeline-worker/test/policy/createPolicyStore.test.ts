import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ClassicLevel } from "classic-level";
import { afterEach, describe, expect, it } from "vitest";
import { getAddress, keccak256, toHex } from "viem";
import { createPolicyStore, type PolicyStoreIdentity } from "../../src/policy/createPolicyStore.ts";
import { createGenesisPolicy } from "../../src/policy/Policy.ts";

const guardian = getAddress("0x00000000000000000000000000000000000006a4");
const identity: PolicyStoreIdentity = {
  chainId: 31337,
  registry: getAddress("0x0165878a594ca255338adfa4d48449f69242eb8f"),
  deploymentBlock: 1n,
  guardian,
  revealDelay: 600n,
};
const directories: string[] = [];

async function directory() {
  const dir = await mkdtemp(path.join(tmpdir(), "policy-store-"));
  directories.push(dir);
  return dir;
}

function checkpoint(blockNumber: bigint, fee = blockNumber) {
  const policy = { ...createGenesisPolicy({ guardian, revealDelay: 600n }), policyVersion: fee, feePerQuery: fee };
  return { blockNumber, blockHash: keccak256(toHex(`block ${blockNumber}`)), policy };
}

afterEach(async () => {
  await Promise.all(directories.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

describe("createPolicyStore", () => {
  it("keeps the newest checkpoint and older ones spaced apart, and survives reopening", async () => {
    const dir = await directory();
    const store = await createPolicyStore({ directory: dir, identity, keep: 4, spacing: 10 });
    expect(await store.latest()).toBeUndefined();
    for (let block = 1n; block <= 100n; block++) await store.commit(checkpoint(block));
    const kept = (await store.checkpoints()).map((c) => c.blockNumber);
    expect(kept[0]).toBe(100n);
    expect(kept).toHaveLength(4);
    for (let i = 1; i < kept.length - 1; i++) expect(kept[i]! - kept[i + 1]!).toBeGreaterThanOrEqual(10n);
    await store.close();

    const reopened = await createPolicyStore({ directory: dir, identity, keep: 4, spacing: 10 });
    expect(reopened.resetReason).toBeUndefined();
    const latest = await reopened.latest();
    expect(latest?.blockNumber).toBe(100n);
    expect(latest?.policy.feePerQuery).toBe(100n);
    expect(latest?.blockHash).toBe(checkpoint(100n).blockHash);
    await reopened.discardAbove(kept[2]!);
    expect((await reopened.latest())?.blockNumber).toBe(kept[2]);
    await reopened.close();
  });

  it("replaces checkpoints at or above a new one (the chain moved)", async () => {
    const store = await createPolicyStore({ directory: await directory(), identity, spacing: 1 });
    for (const block of [10n, 20n, 30n]) await store.commit(checkpoint(block));
    await store.commit(checkpoint(20n, 7n));
    expect((await store.checkpoints()).map((c) => [c.blockNumber, c.policy.feePerQuery])).toEqual([
      [20n, 7n],
      [10n, 10n],
    ]);
    await store.close();
  });

  it("clears state written for another chain, registry or genesis", async () => {
    const dir = await directory();
    const store = await createPolicyStore({ directory: dir, identity });
    await store.commit(checkpoint(5n));
    await store.close();
    const other = await createPolicyStore({ directory: dir, identity: { ...identity, revealDelay: 1n } });
    expect(other.resetReason).toBe("the store was written for another revealDelay");
    expect(await other.latest()).toBeUndefined();
    await other.close();
  });

  it("refuses a corrupt checkpoint with a hint to rebuild", async () => {
    const dir = await directory();
    const store = await createPolicyStore({ directory: dir, identity });
    await store.commit(checkpoint(5n));
    await store.close();
    const db = new ClassicLevel<string, unknown>(dir, { valueEncoding: "json" });
    await db.put(`checkpoint!${(6).toString(16).padStart(16, "0")}`, {
      blockNumber: "6",
      blockHash: "0x00",
      policy: {},
    });
    await db.close();
    const reopened = await createPolicyStore({ directory: dir, identity });
    await expect(reopened.latest()).rejects.toThrow(`The policy store at ${dir} holds a malformed checkpoint.`);
    await reopened.close();
  });
});
