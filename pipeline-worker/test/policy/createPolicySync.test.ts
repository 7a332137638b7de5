import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { getAddress, keccak256, toHex, type Hex } from "viem";
import { registryAction } from "../../../test/helpers/governance.ts";
import { createSnapshots } from "../../../test/helpers/snapshots.ts";
import { createMetrics } from "../../src/internal/createMetrics.ts";
import { isWorkerError, type WorkerError } from "../../src/internal/WorkerError.ts";
import type { KillSwitchChange, PolicySync } from "../../src/policy/createPolicySync.ts";
import { diffPolicies } from "../../src/policy/diffPolicies.ts";
import { isSubmitter, quotaOf } from "../../src/policy/Policy.ts";
import { readPolicyFromChain } from "../../src/policy/readPolicyFromChain.ts";
import { createPolicyTestChain, policyDeploymentOf, type PolicyTestChain } from "./createPolicyTestChain.ts";

let chain: PolicyTestChain;
let snapshots: ReturnType<typeof createSnapshots>;
const open: PolicySync[] = [];

beforeAll(async () => {
  chain = await createPolicyTestChain();
  await chain.delegateAll();
  snapshots = createSnapshots(chain.testClient);
  await snapshots.save();
});
beforeEach(async () => {
  await snapshots.restore();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((sync) => sync.close()));
});
afterAll(async () => {
  await chain.cleanUp();
});

async function createSync(...args: Parameters<PolicyTestChain["createSync"]>) {
  const created = await chain.createSync(...args);
  open.push(created.sync);
  return created;
}

async function head() {
  return chain.publicClient.getBlockNumber({ cacheTime: 0 });
}

function staleError(sync: PolicySync): WorkerError {
  try {
    sync.requireFreshPolicy();
  } catch (error) {
    if (isWorkerError(error, "POLICY_STALE")) return error;
    throw error;
  }
  throw new Error("expected POLICY_STALE");
}

describe("createPolicySync: confirmations", () => {
  it("grants a governance change only once it has the configured confirmations", async () => {
    const contributor = chain.accounts.contributor.account.address;
    const { sync } = await createSync({ confirmations: 3 });
    await sync.poll();
    expect(isSubmitter(sync.policy(), contributor)).toBe(false);

    await chain.pass([registryAction(chain, "setSubmitter", [contributor, true])]);
    const executedIn = await head();
    await sync.poll();
    const view = sync.requireFreshPolicy();
    // Seen at the head, not yet granted.
    expect(isSubmitter(view.head.policy, contributor)).toBe(true);
    expect(isSubmitter(view.policy, contributor)).toBe(false);

    await chain.testClient.mine({ blocks: 2 });
    await sync.poll();
    expect(isSubmitter(sync.policy(), contributor)).toBe(false);

    await chain.testClient.mine({ blocks: 1 });
    const result = await sync.poll();
    expect(result.confirmed.blockNumber).toBe(executedIn);
    expect(isSubmitter(sync.policy(), contributor)).toBe(true);
    expect(sync.requireFreshPolicy().confirmed.policyVersion).toBe(1n);
  });

  it("takes away at once what an unconfirmed change takes away, and grants the smaller quota", async () => {
    const consumer = chain.accounts.consumer.account.address;
    const { sync } = await createSync({ confirmations: 5 });
    await chain.asTimelock("setQuota", [consumer, 100n]);
    await chain.asTimelock("setSubmitter", [chain.accounts.contributor.account.address, true]);
    await chain.testClient.mine({ blocks: 5 });
    await sync.poll();
    expect(quotaOf(sync.policy(), consumer)).toBe(100n);

    await chain.asTimelock("setQuota", [consumer, 10n]);
    await chain.asTimelock("setSubmitter", [chain.accounts.contributor.account.address, false]);
    await chain.asTimelock("setQueryFee", [7n]);
    await sync.poll();
    const policy = sync.policy();
    expect(quotaOf(policy, consumer)).toBe(10n);
    expect(isSubmitter(policy, chain.accounts.contributor.account.address)).toBe(false);
    expect(policy.feePerQuery).toBe(7n);

    // A larger quota waits for its confirmations again.
    await chain.testClient.mine({ blocks: 5 });
    await chain.asTimelock("setQuota", [consumer, 50n]);
    await sync.poll();
    expect(quotaOf(sync.policy(), consumer)).toBe(10n);
    await chain.testClient.mine({ blocks: 5 });
    await sync.poll();
    expect(quotaOf(sync.policy(), consumer)).toBe(50n);
  });
});

describe("createPolicySync: kill switch", () => {
  it("acts on the guardian's engagement at once and on the lift only once confirmed", async () => {
    const { sync } = await createSync({ confirmations: 3 });
    const changes: KillSwitchChange[] = [];
    sync.onKillSwitch((change) => changes.push(change));
    await sync.poll();
    expect(sync.policy().killSwitch.engaged).toBe(false);

    const receipt = await chain.engageAsGuardian("data leak suspected");
    await sync.poll();
    const view = sync.requireFreshPolicy();
    expect(view.policy.killSwitch).toMatchObject({
      engaged: true,
      engagedBy: getAddress(chain.accounts.guardian.account.address),
      reason: "data leak suspected",
    });
    expect(view.killSwitchUnconfirmed).toBe(true);
    expect(view.confirmed.policy.killSwitch.engaged).toBe(false);
    expect(changes).toEqual([
      expect.objectContaining({ engaged: true, confirmed: false, blockNumber: receipt.blockNumber }),
    ]);
    expect(sync.snapshot()).toMatchObject({ killSwitchUnconfirmed: true, policy: { killSwitch: { engaged: true } } });

    await chain.testClient.mine({ blocks: 3 });
    await sync.poll();
    expect(sync.requireFreshPolicy().killSwitchUnconfirmed).toBe(false);
    expect(changes).toHaveLength(1);

    await chain.pass([registryAction(chain, "liftKillSwitch", [await chain.engagementId()])]);
    await sync.poll();
    expect(sync.requireFreshPolicy().head.policy.killSwitch.engaged).toBe(false);
    expect(sync.policy().killSwitch.engaged).toBe(true);
    await chain.testClient.mine({ blocks: 2 });
    await sync.poll();
    expect(sync.policy().killSwitch.engaged).toBe(true);
    await chain.testClient.mine({ blocks: 1 });
    await sync.poll();
    expect(sync.policy().killSwitch.engaged).toBe(false);
    expect(changes).toHaveLength(2);
    expect(changes[1]).toMatchObject({ engaged: false, confirmed: true });
  });

  it("acts on an engagement met while catching up before the rest of the backlog is read", async () => {
    const order: string[] = [];
    const { sync } = await createSync({ maxBlockRange: 4, onProgress: () => order.push("range") });
    sync.onKillSwitch((change) => order.push(`kill switch ${change.engaged ? "engaged" : "lifted"}`));
    await sync.poll();
    order.length = 0;
    await chain.engageAsGuardian("stop now");
    await chain.testClient.mine({ blocks: 40 });
    await sync.poll();
    expect(order.indexOf("kill switch engaged")).toBeGreaterThan(0);
    expect(order.indexOf("kill switch engaged")).toBeLessThan(3);
    expect(order.filter((entry) => entry === "range").length).toBeGreaterThan(9);
    expect(sync.policy().killSwitch.reason).toBe("stop now");
  });

  it("stops listening when unsubscribed and survives a listener that throws", async () => {
    const { sync } = await createSync();
    const seen: boolean[] = [];
    sync.onKillSwitch(() => {
      throw new Error("listener bug");
    });
    const unsubscribe = sync.onKillSwitch((change) => seen.push(change.engaged));
    await chain.engageAsGuardian("first");
    await sync.poll();
    unsubscribe();
    await chain.asTimelock("liftKillSwitch", [await chain.engagementId()]);
    await sync.poll();
    expect(seen).toEqual([true]);
    expect(sync.policy().killSwitch.engaged).toBe(false);
  });
});

describe("createPolicySync: restarts", () => {
  it("resumes from the stored cursor without reading the history again", async () => {
    const directory = await chain.directory();
    const consumer = chain.accounts.consumer.account.address;
    await chain.pass([registryAction(chain, "setQuota", [consumer, 25n])]);
    await chain.testClient.mine({ blocks: 2 });
    const first = await createSync({ directory, confirmations: 2, maxBlockRange: 5 });
    const firstResult = await first.sync.poll();
    expect(first.control.logRanges().length).toBeGreaterThan(10);
    expect(quotaOf(first.sync.policy(), consumer)).toBe(25n);
    await first.sync.close();

    await chain.asTimelock("setQueryFee", [3n]);
    await chain.testClient.mine({ blocks: 4 });
    const second = await createSync({ directory, confirmations: 2, maxBlockRange: 5 });
    // Nothing is trusted before the chain has been asked again.
    expect(staleError(second.sync).extra.reason).toBe("not-synced");
    const secondResult = await second.sync.poll();

    const ranges = second.control.logRanges();
    expect(ranges.length).toBeLessThanOrEqual(2);
    for (const [fromBlock] of ranges) expect(fromBlock).toBeGreaterThan(firstResult.confirmed.blockNumber);
    expect(secondResult.eventsApplied).toBe(1);
    const policy = second.sync.policy();
    expect(quotaOf(policy, consumer)).toBe(25n);
    expect(policy.feePerQuery).toBe(3n);
  });

  it("refuses to follow a chain other than the manifest's", async () => {
    const moved = await createSync({ deployment: { ...policyDeploymentOf(chain.deployment), chainId: 1 } });
    await expect(moved.sync.poll()).rejects.toThrow(/serves chain 31337, but the deployment manifest is for chain 1/);
    expect(staleError(moved.sync).extra.reason).toBe("inconsistent");
  });
});

describe("createPolicySync: reorgs", () => {
  it("drops an unconfirmed kill switch engagement that a reorg removed", async () => {
    const { sync } = await createSync({ confirmations: 3 });
    const changes: KillSwitchChange[] = [];
    sync.onKillSwitch((change) => changes.push(change));
    await chain.asTimelock("setQuota", [chain.accounts.consumer.account.address, 5n]);
    await chain.testClient.mine({ blocks: 3 });
    await sync.poll();

    const id = await chain.testClient.snapshot();
    await chain.engageAsGuardian("false alarm on a fork");
    await chain.asTimelock("setQuota", [chain.accounts.consumer.account.address, 9n]);
    await sync.poll();
    expect(sync.policy().killSwitch.engaged).toBe(true);

    await chain.testClient.revert({ id });
    await chain.mineDifferentBlock();
    await chain.mineDifferentBlock();
    await chain.mineDifferentBlock();
    const result = await sync.poll();
    expect(result.rolledBackTo).toBeUndefined();
    const view = sync.requireFreshPolicy();
    expect(view.policy.killSwitch.engaged).toBe(false);
    expect(quotaOf(view.head.policy, chain.accounts.consumer.account.address)).toBe(5n);
    expect(changes.map((change) => change.engaged)).toEqual([true, false]);

    const fresh = await createSync({ confirmations: 3 });
    await fresh.sync.poll();
    expect(diffPolicies(view.policy, fresh.sync.policy())).toEqual([]);
    expect(diffPolicies(view.head.policy, fresh.sync.requireFreshPolicy().head.policy)).toEqual([]);
  });

  it.each([0, 1])("rolls back below the confirmed cursor (%i confirmations) and matches a fresh sync", async (n) => {
    const consumer = chain.accounts.consumer.account.address;
    const { sync } = await createSync({ confirmations: n, checkpointSpacing: 1 });
    await chain.asTimelock("setSubmitter", [chain.accounts.contributor.account.address, true]);
    await chain.testClient.mine({ blocks: 2 });
    await sync.poll();
    const before = sync.requireFreshPolicy().confirmed;

    const id = await chain.testClient.snapshot();
    await chain.asTimelock("setQuota", [consumer, 5n]);
    await chain.asTimelock("setWorker", [chain.accounts.worker.account.address, true]);
    await chain.asTimelock("setSubmitter", [chain.accounts.outsider.account.address, true]);
    await chain.testClient.mine({ blocks: 2 });
    await sync.poll();
    expect(sync.requireFreshPolicy().confirmed.policyVersion).toBe(4n);

    await chain.testClient.revert({ id });
    await chain.asTimelock("setQuota", [consumer, 7n]);
    for (let i = 0; i < 5; i++) await chain.mineDifferentBlock();
    const result = await sync.poll();
    expect(result.rolledBackTo).toBe(before.blockNumber);
    const view = sync.requireFreshPolicy();
    expect(quotaOf(view.policy, consumer)).toBe(7n);
    expect(view.policy.workers.size).toBe(0);
    expect(isSubmitter(view.policy, chain.accounts.outsider.account.address)).toBe(false);

    const fresh = await createSync({ confirmations: n });
    await fresh.sync.poll();
    expect(diffPolicies(view.confirmed.policy, fresh.sync.requireFreshPolicy().confirmed.policy)).toEqual([]);
    expect(view.confirmed.blockHash).toBe(fresh.sync.requireFreshPolicy().confirmed.blockHash);
    const onChain = await readPolicyFromChain({
      client: chain.publicClient,
      registry: chain.registry,
      blockNumber: view.confirmed.blockNumber,
      accounts: Object.values(chain.accounts)
        .flat()
        .map((wallet) => wallet.account.address),
    });
    expect(diffPolicies(view.confirmed.policy, onChain)).toEqual([]);
  });

  it("syncs again from the deployment when no checkpoint survived the reorg", async () => {
    const { sync } = await createSync({ checkpoints: 1 });
    await sync.poll();
    const id = await chain.testClient.snapshot();
    await chain.asTimelock("setQueryFee", [11n]);
    await sync.poll();
    await chain.testClient.revert({ id });
    await chain.asTimelock("setQueryFee", [12n]);
    await chain.mineDifferentBlock();
    const result = await sync.poll();
    expect(result.rolledBackTo).toBe(BigInt(chain.deployment.deploymentBlock) - 1n);
    expect(sync.policy().feePerQuery).toBe(12n);
  });
});

describe("createPolicySync: missed logs", () => {
  it("notices a log missing inside a range by its policy version and reads the range again", async () => {
    const { sync, control } = await createSync();
    await chain.asTimelock("setQueryFee", [1n]);
    await chain.asTimelock("setQueryFee", [2n]);
    const dropped = keccak256(toHex("QueryFeeSet(uint256,uint256)"));
    let drops = 1;
    control.dropLog = (log) => log.topics[0] === dropped && drops-- > 0;
    await expect(sync.poll()).rejects.toThrow(/carries policy version 2, expected 1: logs are missing/);
    expect(staleError(sync).extra.reason).toBe("not-synced");
    await sync.poll();
    expect(sync.policy().feePerQuery).toBe(2n);
  });

  it("notices the last log of a range missing by the registry's version and rolls back", async () => {
    const { sync, control } = await createSync();
    await sync.poll();
    await chain.asTimelock("setQueryFee", [1n]);
    await sync.poll();
    await chain.asTimelock("setQueryFee", [2n]);
    const latest: Hex = toHex(await head());
    control.dropLog = (log) => log.blockNumber === latest;
    await expect(sync.poll()).rejects.toThrow(/logs are missing/);
    control.dropLog = undefined;
    const result = await sync.poll();
    expect(result.rolledBackTo).toBeUndefined();
    expect(sync.policy().feePerQuery).toBe(2n);
    expect(sync.requireFreshPolicy().confirmed.policyVersion).toBe(2n);
  });
});

describe("createPolicySync: failing closed", () => {
  it("refuses with POLICY_STALE before the first poll, when the RPC is down, and when too old", async () => {
    let clock = 1_000_000;
    const { sync, control } = await createSync({ stalenessMs: 30_000, now: () => clock });
    const notSynced = staleError(sync);
    expect(notSynced.shortMessage).toBe("The policy has not been read from the chain yet.");
    expect(notSynced.retryable).toBe(true);
    expect(() => sync.snapshot()).toThrow(notSynced.shortMessage);

    await sync.poll();
    expect(sync.policy().policyVersion).toBe(0n);

    control.down = true;
    clock += 1_000;
    await expect(sync.poll()).rejects.toMatchObject({ code: "CHAIN_UNAVAILABLE" });
    const down = staleError(sync);
    expect(down.extra.reason).toBe("sync-failed");
    expect(down.shortMessage).toMatch(/^The policy cannot be confirmed fresh: the last poll of the chain failed/);
    expect(down.hints).toContain(
      "Operators: check the RPC node at rpcUrl and the worker's log for the failing request.",
    );
    expect(down.message).toContain("ECONNREFUSED");

    control.down = false;
    await sync.poll();
    expect(sync.policy().policyVersion).toBe(0n);

    clock += 30_001;
    const old = staleError(sync);
    expect(old.extra.reason).toBe("too-old");
    expect(old.shortMessage).toBe("The policy was last confirmed 30 s ago, more than the 30 s allowed.");
    await sync.poll();
    expect(() => sync.requireFreshPolicy()).not.toThrow();
  });

  it("refuses while the confirmed cursor is too far behind the head", async () => {
    const errors: WorkerError[] = [];
    const created = await createSync({
      maxBlockRange: 4,
      maxLagBlocks: 8,
      onProgress: ({ toBlock, targetBlock }) => {
        if (targetBlock - toBlock > 8n) errors.push(staleError(created.sync));
      },
    });
    const { sync } = created;
    await sync.poll();
    errors.length = 0;
    await chain.testClient.mine({ blocks: 30 });
    await sync.poll();
    expect(errors.length).toBeGreaterThan(2);
    expect(new Set(errors.map((error) => error.extra.reason))).toEqual(new Set(["too-far-behind"]));
    expect(errors[0]!.shortMessage).toMatch(
      /^The confirmed policy is \d+ blocks behind the chain head, more than the 8 allowed\.$/,
    );
    expect(() => sync.requireFreshPolicy()).not.toThrow();
  });

  it("refuses while the node's latest block is older than maxHeadAgeSeconds (a node stuck behind the network)", async () => {
    await chain.testClient.mine({ blocks: 1 });
    const latest = await chain.publicClient.getBlock({ blockTag: "latest" });
    // The worker's clock, in ms, set against the head's timestamp rather than the wall clock.
    let clock = Number(latest.timestamp) * 1000 + 10_000;
    const { sync } = await createSync({ maxHeadAgeSeconds: 60, stalenessMs: 3_600_000, now: () => clock });
    await sync.poll();
    expect(() => sync.requireFreshPolicy()).not.toThrow();

    // Two minutes on, the node still answers every poll at once, with the same head.
    clock += 120_000;
    await sync.poll();
    const behind = staleError(sync);
    expect(behind.extra.reason).toBe("head-too-old");
    expect(behind.shortMessage).toBe(
      "The RPC node's latest block is 130 s old, more than the 60 s allowed: the node has fallen behind the network, and a change made since would not be seen.",
    );
    expect(behind.retryable).toBe(true);

    // The node catches up: a block of now.
    await chain.testClient.setNextBlockTimestamp({ timestamp: BigInt(Math.floor(clock / 1000)) });
    await chain.testClient.mine({ blocks: 1 });
    await sync.poll();
    expect(() => sync.requireFreshPolicy()).not.toThrow();
  });

  it("does not look at the head's age when maxHeadAgeSeconds is 0 (a local chain mining on demand)", async () => {
    const latest = await chain.publicClient.getBlock({ blockTag: "latest" });
    const { sync } = await createSync({
      stalenessMs: 3_600_000,
      now: () => Number(latest.timestamp) * 1000 + 86_400_000,
    });
    await sync.poll();
    expect(() => sync.requireFreshPolicy()).not.toThrow();
  });

  it("refuses a policy that differs from the registry's views (a wrong manifest)", async () => {
    const deployment = { ...policyDeploymentOf(chain.deployment), revealDelay: 1n };
    const { sync } = await createSync({ deployment });
    await expect(sync.poll()).rejects.toThrow(/differs from the registry's views at block \d+ in: revealDelay/);
    const error = staleError(sync);
    expect(error.extra.reason).toBe("inconsistent");
    expect(error.retryable).toBe(false);
    expect(error.hints[0]).toMatch(/settings.revealDelay/);
  });
});

describe("createPolicySync: snapshot, metrics and polling", () => {
  it("gives a JSON-safe snapshot with the block and version it was read at", async () => {
    const { sync } = await createSync({ confirmations: 1 });
    await chain.asTimelock("setQuota", [chain.accounts.consumer.account.address, 25n]);
    await chain.asTimelock("setQueryFee", [10n ** 18n]);
    await sync.poll();
    const snapshot = JSON.parse(JSON.stringify(sync.snapshot()));
    const block = await chain.publicClient.getBlock({ blockNumber: (await head()) - 1n });
    expect(snapshot).toMatchObject({
      chainId: 31337,
      registry: getAddress(chain.registry),
      blockNumber: block.number.toString(),
      blockHash: block.hash,
      policyVersion: "1",
      head: { policyVersion: "2" },
      confirmations: 1,
      killSwitchUnconfirmed: false,
      epochs: { epochLength: "3600" },
      policy: {
        policyVersion: "1",
        quotas: { [getAddress(chain.accounts.consumer.account.address)]: "25" },
        // The higher fee acts before its confirmation.
        feePerQuery: "1000000000000000000",
        revealDelay: "600",
        guardian: getAddress(chain.accounts.guardian.account.address),
      },
    });
  });

  it("reports its progress in metrics", async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const { sync } = await createSync({ metrics });
    await chain.asTimelock("setQueryFee", [5n]);
    await chain.asTimelock("setRevealDelay", [60n]);
    await sync.poll();
    const text = await metrics.registry.metrics();
    expect(text).toContain(`worker_policy_confirmed_block ${await head()}`);
    expect(text).toContain("worker_policy_events_applied_total 2");
    expect(text).toContain('worker_policy_version{view="head"} 2');
    expect(text).toContain("worker_policy_lag_blocks 0");
    expect(text).toContain("worker_policy_lag_seconds 0");
  });

  it("polls on its own once started and tells subscribers of changes", async () => {
    const { sync } = await createSync({ pollingIntervalMs: 20 });
    const versions: bigint[] = [];
    sync.onPolicyChange((view) => versions.push(view.head.policyVersion));
    sync.start();
    await waitFor(() => versions.length > 0);
    await chain.asTimelock("setQueryFee", [5n]);
    await waitFor(() => versions.includes(1n));
    await sync.stop();
    expect(versions[0]).toBe(0n);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for a condition");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
