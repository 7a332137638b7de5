import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { BaseError as ViemBaseError, ContractFunctionRevertedError, getAddress, parseEther, type Address } from "viem";
import { policyRegistryAbi } from "../../../deployments/abis.ts";
import { createSnapshots } from "../../../test/helpers/snapshots.ts";
import { createApiServer } from "../../src/api/createApiServer.ts";
import { registerPolicyRoutes } from "../../src/api/routes/registerPolicyRoutes.ts";
import { createLogger } from "../../src/internal/createLogger.ts";
import { createMetrics } from "../../src/internal/createMetrics.ts";
import type { PolicySync } from "../../src/policy/createPolicySync.ts";
import { diffPolicies } from "../../src/policy/diffPolicies.ts";
import { quotaAt } from "../../src/policy/Policy.ts";
import { readPolicyFromChain } from "../../src/policy/readPolicyFromChain.ts";
import { createPolicyTestChain, type PolicyTestChain } from "./createPolicyTestChain.ts";

const PRICE = parseEther("0.001");

let chain: PolicyTestChain;
let snapshots: ReturnType<typeof createSnapshots>;
const open: PolicySync[] = [];
// The sync's clock follows the chain's, which the tests move forward across epochs.
let chainNowMs = 0;

beforeAll(async () => {
  chain = await createPolicyTestChain();
  snapshots = createSnapshots(chain.testClient);
  await snapshots.save();
});
beforeEach(async () => {
  await snapshots.restore();
  await followChainClock();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((sync) => sync.close()));
});
afterAll(async () => {
  await chain.cleanUp();
});

async function followChainClock() {
  const block = await chain.publicClient.getBlock({ blockTag: "latest" });
  chainNowMs = Number(block.timestamp) * 1000;
}

async function createSync(confirmations = 0) {
  const created = await chain.createSync({ confirmations, now: () => chainNowMs, maxHeadAgeSeconds: 0 });
  open.push(created.sync);
  return created.sync;
}

const registryRead = <T>(functionName: string, args: readonly unknown[] = []) =>
  chain.publicClient.readContract({
    address: chain.registry,
    abi: policyRegistryAbi,
    functionName,
    args,
  } as never) as Promise<T>;

async function currentEpoch(): Promise<bigint> {
  return registryRead<bigint>("currentEpoch");
}

/** `who` joins (or renews) tier `tierId` for `epochs` epochs, paying the price, as a consumer does from the UI. */
async function join(who: "consumer" | "outsider", tierId: number, epochs: bigint, value = PRICE * epochs) {
  return chain.wait(
    await chain.accounts[who].writeContract({
      address: chain.registry,
      abi: policyRegistryAbi,
      functionName: "joinTier",
      args: [tierId, epochs],
      value,
    }),
  );
}

/** Moves the chain into the next epoch. */
async function nextEpoch() {
  const end = await registryRead<bigint>("epochEnd", [await currentEpoch()]);
  await chain.testClient.setNextBlockTimestamp({ timestamp: end });
  await chain.testClient.mine({ blocks: 1 });
  await followChainClock();
}

async function revertName(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    const reverted = (error as ViemBaseError).walk((e) => e instanceof ContractFunctionRevertedError);
    if (reverted instanceof ContractFunctionRevertedError) return reverted.data?.errorName;
    throw error;
  }
  return undefined;
}

describe("access tiers: joined by paying, followed by the worker", () => {
  it("gives a consumer who joins an open tier its quota within one poll, with no vote, and GET /v1/policy?consumer= shows it", async () => {
    const consumer = chain.accounts.consumer.account.address;
    await chain.asTimelock("setTier", [0, 20n, PRICE, true, 0]);
    const sync = await createSync();
    await sync.poll();
    const epoch = await currentEpoch();
    expect(quotaAt(sync.policy(), consumer, epoch)).toBe(0n);

    await join("consumer", 0, 2n);
    await sync.poll();
    const policy = sync.policy();
    expect([epoch, epoch + 1n, epoch + 2n].map((e) => quotaAt(policy, consumer, e))).toEqual([20n, 20n, 0n]);

    const app = createApiServer({
      logger: createLogger({ level: "silent" }),
      metrics: createMetrics({ defaultMetrics: false }),
      docsUrl: "https://example.org/errors.md",
    });
    registerPolicyRoutes(app, {
      chainId: chain.deployment.chainId,
      contributorRewards: chain.deployment.contracts.contributorRewards,
      usageSettlement: chain.deployment.contracts.usageSettlement,
      policySnapshot: (who) => sync.snapshot({ consumer: who }),
    });
    const answer = await app.inject({ method: "GET", url: `/v1/policy?consumer=${consumer.toLowerCase()}` });
    expect(answer.statusCode).toBe(200);
    const body = answer.json<{ policy: { tiers: unknown; memberships: unknown }; consumer: unknown }>();
    expect(body.policy.tiers).toEqual({
      0: { queriesPerEpoch: "20", pricePerEpoch: PRICE.toString(), open: true, maxMembers: 0 },
    });
    expect(body.consumer).toEqual({
      consumer: getAddress(consumer),
      epoch: epoch.toString(),
      quota: "20",
      source: "tier",
      votedQuota: "0",
      membership: { tierId: 0, fromEpoch: epoch.toString(), untilEpoch: (epoch + 2n).toString(), active: true },
    });
    // Without `consumer` there is no consumer part; a malformed one is refused with a stable code.
    expect((await app.inject({ method: "GET", url: "/v1/policy" })).json()).not.toHaveProperty("consumer");
    const bad = await app.inject({ method: "GET", url: "/v1/policy?consumer=0x1234" });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: "VALIDATION_FAILED" });
    await app.close();
  });

  it("lets a quota the DAO voted win over the tier, as the registry does", async () => {
    const consumer = chain.accounts.consumer.account.address;
    await chain.asTimelock("setTier", [0, 20n, PRICE, true, 0]);
    await join("consumer", 0, 1n);
    await chain.asTimelock("setQuota", [consumer, 5n]);
    const sync = await createSync();
    await sync.poll();
    const epoch = await currentEpoch();
    expect(quotaAt(sync.policy(), consumer, epoch)).toBe(5n);
    expect(await registryRead<bigint>("quotaAt", [consumer, epoch])).toBe(5n);
    expect(sync.snapshot({ consumer }).consumer).toMatchObject({ quota: "5", source: "vote", votedQuota: "5" });
  });

  it("agrees with the registry's quotaAt at epoch boundaries, through a renewal, a join in the epoch the membership ended and a change of tier", async () => {
    const consumer = chain.accounts.consumer.account.address;
    await chain.asTimelock("setTier", [0, 20n, PRICE, true, 0]);
    await chain.asTimelock("setTier", [1, 100n, PRICE * 3n, true, 0]);
    const sync = await createSync();
    await nextEpoch();
    const start = await currentEpoch();

    async function expectSameAsRegistry() {
      await sync.poll();
      const policy = sync.policy();
      const epochs = [start - 1n, start, start + 1n, start + 2n, start + 3n, start + 4n, start + 5n];
      const onChain = await Promise.all(epochs.map((e) => registryRead<bigint>("quotaAt", [consumer, e])));
      expect(epochs.map((e) => quotaAt(policy, consumer, e))).toEqual(onChain);
      const views = await readPolicyFromChain({
        client: chain.publicClient,
        registry: chain.registry,
        blockNumber: await chain.publicClient.getBlockNumber({ cacheTime: 0 }),
        accounts: [consumer],
      });
      expect(diffPolicies(policy, views)).toEqual([]);
      return onChain;
    }

    await join("consumer", 0, 1n); // [start, start + 1)
    expect(await expectSameAsRegistry()).toEqual([0n, 20n, 0n, 0n, 0n, 0n, 0n]);
    await join("consumer", 0, 1n); // a renewal while active: [start, start + 2)
    expect(await expectSameAsRegistry()).toEqual([0n, 20n, 20n, 0n, 0n, 0n, 0n]);

    await nextEpoch();
    await nextEpoch();
    // Ended as this very epoch began: joining the same tier again continues the membership, so the
    // epoch it ended with (settled during this one) keeps its quota.
    await join("consumer", 0, 1n);
    expect(await expectSameAsRegistry()).toEqual([0n, 20n, 20n, 20n, 0n, 0n, 0n]);

    await nextEpoch();
    // Ended as this epoch began: its last epoch is being settled, so another tier must wait one epoch.
    await expect(join("consumer", 1, 2n, PRICE * 6n)).rejects.toThrow(/PolicyTierMembershipActive/);
    await nextEpoch();
    await join("consumer", 1, 2n, PRICE * 6n);
    expect(await expectSameAsRegistry()).toEqual([0n, 0n, 0n, 0n, 0n, 100n, 100n]);
  });

  it("takes a removed tier's quota away at once, even unconfirmed; a closed tier keeps its members' renewals", async () => {
    const [consumer, outsider] = [chain.accounts.consumer.account.address, chain.accounts.outsider.account.address];
    await chain.asTimelock("setTier", [0, 20n, PRICE, true, 0]);
    await join("consumer", 0, 1n);
    const sync = await createSync(3);
    await chain.testClient.mine({ blocks: 3 });
    await sync.poll();
    const epoch = await currentEpoch();
    expect(quotaAt(sync.policy(), consumer, epoch)).toBe(20n);

    await chain.asTimelock("setTier", [0, 20n, PRICE, false, 0]);
    expect(await revertName(join("outsider", 0, 1n))).toBe("PolicyTierClosed");
    await join("consumer", 0, 1n);
    await chain.testClient.mine({ blocks: 3 });
    await sync.poll();
    expect(quotaAt(sync.policy(), consumer, epoch + 1n)).toBe(20n);
    expect(quotaAt(sync.policy(), outsider, epoch)).toBe(0n);

    await chain.asTimelock("setTier", [0, 0n, PRICE, false, 0]);
    await sync.poll();
    const view = sync.requireFreshPolicy();
    // Not yet confirmed, already enforced: a removal takes away, so it acts as soon as it is seen.
    expect(quotaAt(view.confirmed.policy, consumer, epoch)).toBe(20n);
    expect(quotaAt(view.policy, consumer, epoch)).toBe(0n);
    expect(await registryRead<bigint>("quotaAt", [consumer, epoch])).toBe(0n);
    expect(sync.snapshot({ consumer }).consumer).toMatchObject({
      quota: "0",
      source: "none",
      membership: { tierId: 0, active: false },
    });
  });

  it("counts a member once a join waits for its confirmations, as a voted quota does", async () => {
    const consumer: Address = chain.accounts.consumer.account.address;
    await chain.asTimelock("setTier", [0, 20n, PRICE, true, 0]);
    const sync = await createSync(2);
    await chain.testClient.mine({ blocks: 2 });
    await sync.poll();
    await join("consumer", 0, 1n);
    await sync.poll();
    const epoch = await currentEpoch();
    expect(quotaAt(sync.requireFreshPolicy().head.policy, consumer, epoch)).toBe(20n);
    expect(quotaAt(sync.policy(), consumer, epoch)).toBe(0n);
    await chain.testClient.mine({ blocks: 2 });
    await sync.poll();
    expect(quotaAt(sync.policy(), consumer, epoch)).toBe(20n);
  });
});
