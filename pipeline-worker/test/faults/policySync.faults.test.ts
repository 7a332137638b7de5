import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createPublicClient, http, numberToHex, type EIP1193RequestFn, type PublicClient } from "viem";
import { createSnapshots } from "../../../test/helpers/snapshots.ts";
import { isWorkerError, type WorkerError } from "../../src/internal/WorkerError.ts";
import { createPolicySync, type PolicySync } from "../../src/policy/createPolicySync.ts";
import { diffPolicies } from "../../src/policy/diffPolicies.ts";
import { quotaOf } from "../../src/policy/Policy.ts";
import { readPolicyFromChain } from "../../src/policy/readPolicyFromChain.ts";
import {
  createFaultyRpcProxy,
  describeInjected,
  type FaultyRpcProxy,
  type RpcFault,
} from "../helpers/createFaultyRpcProxy.ts";
import { createPolicyTestChain, policyDeploymentOf, type PolicyTestChain } from "../policy/createPolicyTestChain.ts";

// The policy sync reading the chain through a JSON-RPC proxy that stalls, drops, resets, answers
// from a stale replica, reorders batches, and a chain that reorganises under it. Under every fault
// the sync fails closed (POLICY_STALE saying why) or holds a policy no less restrictive than the
// chain's, and once the fault clears it agrees with a sync that never saw a fault.

const ROUNDS = process.env.SOAK ? 10 : 1;

let chain: PolicyTestChain;
let proxy: FaultyRpcProxy;
let snapshots: ReturnType<typeof createSnapshots>;
const open: PolicySync[] = [];
const outcomes: string[] = [];
let recovered = 0;

beforeAll(async () => {
  chain = await createPolicyTestChain();
  const provider = chain.connection.provider;
  proxy = await createFaultyRpcProxy(provider.request.bind(provider) as EIP1193RequestFn);
  snapshots = createSnapshots(chain.testClient);
  await snapshots.save();
});
beforeEach(async () => {
  await snapshots.restore();
});
afterEach(async () => {
  proxy.clear();
  await Promise.all(open.splice(0).map((sync) => sync.close()));
});
afterAll(async () => {
  console.info(
    `faults: rpc/policy sync: ${describeInjected(proxy.injected)} injected; ${recovered} recoveries checked, ` +
      `every faulty poll refused with POLICY_STALE (${[...new Set(outcomes)].join(", ")})`,
  );
  await proxy?.close();
  await chain?.cleanUp();
});

/** A viem client as the worker makes one (`http(rpcUrl)`), with a short timeout so stalls end fast. */
function clientOf(options: { batch?: boolean } = {}): PublicClient {
  return createPublicClient({
    transport: http(proxy.url, { timeout: 1_000, retryCount: 0, batch: options.batch ?? false }),
  }) as PublicClient;
}

async function createSync(
  options: { client?: PublicClient; confirmations?: number; now?: () => number; checkpointSpacing?: number } = {},
) {
  const sync = await createPolicySync({
    client: options.client ?? clientOf(),
    deployment: policyDeploymentOf(chain.deployment),
    directory: await chain.directory(),
    confirmations: options.confirmations ?? 0,
    stalenessMs: 30_000,
    ...(options.now ? { now: options.now } : {}),
    ...(options.checkpointSpacing ? { checkpointSpacing: options.checkpointSpacing } : {}),
  });
  open.push(sync);
  return sync;
}

function staleError(sync: PolicySync): WorkerError {
  try {
    sync.requireFreshPolicy();
  } catch (error) {
    if (isWorkerError(error, "POLICY_STALE")) {
      outcomes.push(String(error.extra.reason));
      return error;
    }
    throw error;
  }
  throw new Error("expected POLICY_STALE");
}

/** The sync agrees with the registry's own views at its confirmed block and with a sync that saw no fault. */
async function expectAgreesWithChain(sync: PolicySync, confirmations = 0) {
  await sync.poll();
  const view = sync.requireFreshPolicy();
  const onChain = await readPolicyFromChain({
    client: chain.publicClient,
    registry: chain.registry,
    blockNumber: view.confirmed.blockNumber,
    accounts: Object.values(chain.accounts)
      .flat()
      .map((wallet) => wallet.account.address),
  });
  expect(diffPolicies(view.confirmed.policy, onChain)).toEqual([]);
  const fresh = await createSync({ client: chain.publicClient, confirmations });
  await fresh.poll();
  expect(diffPolicies(view.policy, fresh.requireFreshPolicy().policy)).toEqual([]);
  recovered++;
}

const consumer = () => chain.accounts.consumer.account.address;

describe("policy sync: the RPC drops answers", () => {
  const drops: [RpcFault["kind"], "before" | "after", string][] = [];
  for (const kind of ["close", "reset", "502"] as const) {
    for (const when of ["before", "after"] as const) {
      for (const method of ["eth_getBlockByNumber", "eth_getLogs", "eth_call"]) drops.push([kind, when, method]);
    }
  }

  it.each(drops)("%s %s the node answers %s: POLICY_STALE, then it recovers", async (kind, when, method) => {
    const sync = await createSync();
    await chain.asTimelock("setQuota", [consumer(), 5n]);
    await sync.poll();
    for (let round = 0; round < ROUNDS; round++) {
      await chain.asTimelock("setQuota", [consumer(), BigInt(10 + round)]);
      proxy.inject({ methods: [method], fault: { kind, when } as RpcFault });
      await expect(sync.poll()).rejects.toMatchObject({ code: "CHAIN_UNAVAILABLE" });
      const error = staleError(sync);
      expect(error.extra.reason).toBe("sync-failed");
      expect(error.shortMessage).toMatch(/^The policy cannot be confirmed fresh: the last poll of the chain failed/);
      expect(error.retryable).toBe(true);
      proxy.clear();
      await expectAgreesWithChain(sync);
      expect(quotaOf(sync.policy(), consumer())).toBe(BigInt(10 + round));
    }
  });
});

describe("policy sync: the RPC stalls", () => {
  it("refuses as too old while a poll hangs, says the poll failed once the client gives up, and recovers", async () => {
    let clock = 1_000_000;
    const sync = await createSync({ now: () => clock });
    await sync.poll();
    await chain.asTimelock("setQuota", [consumer(), 8n]);

    proxy.inject({ methods: ["eth_getLogs"], fault: { kind: "stall", when: "after" } });
    const hanging = sync.poll();
    await expect.poll(() => proxy.stalled()).toBe(1);
    clock += 31_000;
    expect(staleError(sync).extra.reason).toBe("too-old");
    // viem's timeout (1 s here, 10 s by default) ends the stalled request.
    await expect(hanging).rejects.toMatchObject({ code: "CHAIN_UNAVAILABLE" });
    const failed = staleError(sync);
    expect(failed.extra.reason).toBe("sync-failed");
    expect(failed.message).toMatch(/took too long|timed out/i);
    proxy.clear();
    await expectAgreesWithChain(sync);
    expect(quotaOf(sync.policy(), consumer())).toBe(8n);
  });

  it("a stalled log read across which the chain reorganised is read again, never mixed with the new fork", async () => {
    const sync = await createSync();
    await sync.poll();
    const id = await chain.testClient.snapshot();
    await chain.asTimelock("setQuota", [consumer(), 5n]);
    // The answer to the log read is held while the chain reorganises; it then arrives, stale.
    proxy.inject({ methods: ["eth_getLogs"], fault: { kind: "stall", when: "after" }, times: 1 });
    const polled = sync.poll();
    await expect.poll(() => proxy.stalled()).toBe(1);
    await chain.testClient.revert({ id });
    await chain.asTimelock("setQuota", [consumer(), 7n]);
    await chain.mineDifferentBlock();
    proxy.release();
    await polled.catch(() => undefined);
    await expectAgreesWithChain(sync);
    expect(quotaOf(sync.policy(), consumer())).toBe(7n);
  });
});

describe("policy sync: stale and out-of-order answers", () => {
  it("an older head from a lagging replica never lifts a kill switch it has seen engaged", async () => {
    const sync = await createSync({ confirmations: 2 });
    await sync.poll();
    for (let round = 0; round < ROUNDS; round++) {
      proxy.freeze();
      await chain.engageAsGuardian(`incident ${round}`);
      await sync.poll();
      expect(sync.policy().killSwitch.engaged).toBe(true);
      // Every read the replica has an old answer for gets it: the head, its header, its logs.
      proxy.inject({ fault: { kind: "stale" } });
      await sync.poll().catch(() => undefined);
      const engaged = (() => {
        try {
          return sync.policy().killSwitch.engaged;
        } catch (error) {
          if (isWorkerError(error, "POLICY_STALE")) return "refused";
          throw error;
        }
      })();
      expect(engaged === true || engaged === "refused").toBe(true);
      proxy.clear();
      await expectAgreesWithChain(sync, 2);
      expect(sync.policy().killSwitch.engaged).toBe(true);
      await chain.asTimelock("liftKillSwitch", [await chain.engagementId()]);
      await chain.testClient.mine({ blocks: 2 });
      await sync.poll();
      expect(sync.policy().killSwitch.engaged).toBe(false);
    }
  });

  it("logs of a range as it was before a reorg are not taken for the new fork's", async () => {
    const sync = await createSync();
    await sync.poll();
    const cursor = sync.requireFreshPolicy().confirmed.blockNumber;
    const id = await chain.testClient.snapshot();
    await chain.asTimelock("setQuota", [consumer(), 5n]);
    await chain.mineDifferentBlock();
    // A replica reads the range on the first fork and keeps that answer.
    await clientOf().getLogs({ address: chain.registry, fromBlock: cursor + 1n, toBlock: cursor + 2n });
    proxy.freeze();
    await chain.testClient.revert({ id });
    await chain.asTimelock("setQuota", [consumer(), 7n]);
    await chain.mineDifferentBlock();
    const staleBefore = proxy.injected.stale ?? 0;

    proxy.inject({
      methods: ["eth_getLogs"],
      match: (call) => (call.params?.[0] as { fromBlock?: string }).fromBlock === numberToHex(cursor + 1n),
      fault: { kind: "stale" },
    });
    await sync.poll().catch(() => undefined);
    expect(proxy.injected.stale).toBeGreaterThan(staleBefore);
    // Fails closed, or already right: never the first fork's quota.
    try {
      expect(quotaOf(sync.policy(), consumer())).toBe(7n);
    } catch (error) {
      if (!isWorkerError(error, "POLICY_STALE")) throw error;
      outcomes.push(String(error.extra.reason));
    }
    proxy.clear();
    await expectAgreesWithChain(sync);
    expect(quotaOf(sync.policy(), consumer())).toBe(7n);
  });

  it("batched answers in reverse order are matched by id", async () => {
    await chain.asTimelock("setQuota", [consumer(), 5n]);
    await chain.asTimelock("setQueryFee", [3n]);
    proxy.inject({ fault: { kind: "reorder" } });
    // The sync's concurrent reads (the epoch schedule, the registry's views) go out as batches.
    const reorderedBefore = proxy.injected.reorder ?? 0;
    const sync = await createSync({ client: clientOf({ batch: true }) });
    await sync.poll();
    expect(proxy.injected.reorder).toBeGreaterThan(reorderedBefore);
    const view = sync.requireFreshPolicy();
    expect(view.epochs.epochLength).toBe(3600n);
    expect(view.policy.feePerQuery).toBe(3n);
    await expectAgreesWithChain(sync);
    expect(quotaOf(sync.policy(), consumer())).toBe(5n);
  });
});

describe("policy sync: reorgs through the RPC", () => {
  it("rolls back a confirmed policy change that a reorg removed", async () => {
    const sync = await createSync({ confirmations: 1, checkpointSpacing: 1 });
    await chain.asTimelock("setQuota", [consumer(), 5n]);
    await chain.testClient.mine({ blocks: 2 });
    await sync.poll();
    const id = await chain.testClient.snapshot();
    await chain.asTimelock("setQuota", [consumer(), 50n]);
    await chain.testClient.mine({ blocks: 2 });
    await sync.poll();
    expect(quotaOf(sync.policy(), consumer())).toBe(50n);

    await chain.testClient.revert({ id });
    for (let i = 0; i < 4; i++) await chain.mineDifferentBlock();
    const result = await sync.poll();
    expect(result.rolledBackTo).toBeDefined();
    expect(quotaOf(sync.policy(), consumer())).toBe(5n);
    await expectAgreesWithChain(sync, 1);
  });
});
