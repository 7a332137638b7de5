import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getAddress, keccak256, toHex, type Address, type Hex } from "viem";
import { policyRegistryAbi } from "../../../deployments/abis.ts";
import { generateKeyholderKeyPair } from "../../src/crypto/keyholderKeys.ts";
import { createGenesisPolicy } from "../../src/policy/Policy.ts";
import { diffPolicies } from "../../src/policy/diffPolicies.ts";
import { fetchPolicyEvents } from "../../src/policy/fetchPolicyEvents.ts";
import { readPolicyFromChain } from "../../src/policy/readPolicyFromChain.ts";
import { reducePolicy } from "../../src/policy/reducePolicy.ts";
import { createPolicyTestChain, type PolicyTestChain } from "./createPolicyTestChain.ts";

// A fixed seed and a modest length locally; CI sets more (POLICY_FUZZ_STEPS) and any seed.
const SEED = Number(process.env.POLICY_FUZZ_SEED ?? 20_261_122);
const STEPS = Number(process.env.POLICY_FUZZ_STEPS ?? 250);

/** mulberry32: small, fast, and the same sequence on every machine. */
function createRandom(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (max: number) => Math.floor(next() * max);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const subset = <T>(items: readonly T[], min: number, max: number): T[] => {
    const shuffled = [...items].sort(() => next() - 0.5);
    return shuffled.slice(0, min + int(max - min + 1));
  };
  return { next, int, pick, subset };
}

let chain: PolicyTestChain;

beforeAll(async () => {
  chain = await createPolicyTestChain();
});
afterAll(async () => {
  await chain.cleanUp();
});

describe("readPolicyFromChain", () => {
  it(`matches the reduced events after ${STEPS} random governance changes (seed ${SEED})`, async () => {
    const random = createRandom(SEED);
    const accounts: Address[] = Object.values(chain.accounts)
      .flat()
      .map((wallet) => getAddress(wallet.account.address));
    const runIds: Hex[] = [];
    const checkpoints: bigint[] = [];
    let applied = 0;
    let reverted = 0;

    const keyPool = Array.from({ length: 6 }, () => toHex(generateKeyholderKeyPair().publicKey));
    const wallets = Object.values(chain.accounts).flat();
    // A change: the registry function and its arguments, made by the timelock unless `by` (a
    // consumer joining a tier, paying `value`) is given.
    type Change = [string, readonly unknown[], { by: (typeof wallets)[number]; value: bigint }?];
    const changes: (() => Change | Promise<Change>)[] = [
      () => ["setSubmitter", [random.pick(accounts), random.next() < 0.7]],
      () => ["setSubmitters", [random.subset(accounts, 1, 4), random.next() < 0.6]],
      () => [
        "setAttestationRequirement",
        [
          keccak256(toHex(`schema ${random.int(3)}`)),
          ...(() => {
            const attesters = random.subset(accounts, 1, 4);
            return [attesters, 1 + random.int(attesters.length), BigInt(random.int(3) * 86_400)];
          })(),
        ],
      ],
      () => ["setQuota", [random.pick(accounts), BigInt(random.int(4) === 0 ? 0 : random.int(1000))]],
      () => ["setQueryFee", [BigInt(random.int(1e9)) * 10n ** BigInt(random.int(10))]],
      async () => {
        // Mostly an existing id or the next one; now and then one out of order or a new empty tier, which revert.
        const count = await chain.publicClient.readContract({
          address: chain.registry,
          abi: policyRegistryAbi,
          functionName: "tierCount",
        });
        const queries = random.int(5) === 0 ? 0n : BigInt(1 + random.int(500));
        return [
          "setTier",
          [random.int(count + 2), queries, BigInt(random.int(4)) * 10n ** 15n, random.next() < 0.8, random.int(4)],
        ];
      },
      async () => {
        // A consumer joins or renews (to the right price, mostly), so that renewals, re-joins after
        // an expiry, full and closed tiers all occur as time moves on.
        const tierId = random.int(4);
        const { pricePerEpoch } = await chain.publicClient.readContract({
          address: chain.registry,
          abi: policyRegistryAbi,
          functionName: "tier",
          args: [tierId],
        });
        const epochs = BigInt(1 + random.int(3));
        const value = pricePerEpoch * epochs + (random.next() < 0.05 ? 1n : 0n);
        return ["joinTier", [tierId, epochs], { by: random.pick(wallets), value }];
      },
      async () => ["joinTier", [random.int(4), 1n], { by: random.pick(wallets), value: 0n }],
      () => {
        const members = random.subset(accounts, 1, 4);
        const keys = random.subset(keyPool, members.length, members.length);
        // Now and then a key the registry refuses: a repeated one, or one not on the curve.
        if (members.length > 1 && random.next() < 0.1) keys[1] = keys[0]!;
        if (random.next() < 0.05) keys[0] = toHex(new Uint8Array(33).fill(4));
        return ["setCommittee", [members, keys, 1 + random.int(members.length)]];
      },
      async () => {
        const runId = keccak256(toHex(`run ${runIds.length} ${random.int(1e9)}`));
        runIds.push(runId);
        // From the chain's clock, which the steps below move ahead of the wall clock.
        const now = (await chain.publicClient.getBlock()).timestamp;
        const expiresAt = now + 3_600n + BigInt(random.int(1e6));
        return ["approveTrainingRun", [runId, keccak256(toHex(runId)), random.pick(accounts), expiresAt]];
      },
      () => ["revokeTrainingRun", [runIds.length > 0 ? random.pick(runIds) : keccak256(toHex("unknown"))]],
      () => ["setWorker", [random.pick(accounts), random.next() < 0.7]],
      () => ["setRevealDelay", [BigInt(random.int(1e7))]],
      () => ["setGuardian", [random.pick(accounts)]],
      () => ["engageKillSwitch", [`reason ${random.int(1e6)}`]],
      async () => {
        // Mostly the current engagement; now and then a stale or unknown one, which reverts.
        const current = await chain.engagementId();
        return ["liftKillSwitch", [random.next() < 0.8 ? current : BigInt(random.int(4))]];
      },
    ];

    for (let step = 0; step < STEPS; step++) {
      // Several changes in one block now and then, so events share blocks and order by log index.
      const together = random.next() < 0.2 ? 2 + random.int(3) : 1;
      if (together > 1) await chain.testClient.setAutomine(false);
      const hashes: Hex[] = [];
      for (let i = 0; i < together; i++) {
        const [functionName, args, consumer] = await random.pick(changes)();
        try {
          hashes.push(
            consumer === undefined
              ? await chain.sendAsTimelock(functionName, args)
              : await consumer.by.writeContract({
                  address: chain.registry,
                  abi: policyRegistryAbi,
                  functionName: "joinTier",
                  args: args as [number, bigint],
                  value: consumer.value,
                }),
          );
        } catch {
          // The registry refused it (an unknown run, a lift with nothing engaged, an operator who
          // is not a worker): a change that never happened, as a proposal that reverts.
          reverted++;
        }
      }
      if (together > 1) {
        await chain.testClient.mine({ blocks: 1 });
        await chain.testClient.setAutomine(true);
      }
      for (const hash of hashes) {
        const receipt = await chain.publicClient.waitForTransactionReceipt({ hash });
        if (receipt.status === "success") applied++;
        else reverted++;
      }
      if (random.next() < 0.1) await chain.testClient.mine({ blocks: 1 + random.int(20) });
      if (random.next() < 0.1) await chain.testClient.increaseTime({ seconds: 1 + random.int(86_400) });
      if (random.next() < 0.05) checkpoints.push(await chain.publicClient.getBlockNumber({ cacheTime: 0 }));
    }
    expect(applied).toBeGreaterThan(STEPS / 2);

    const { sync } = await chain.createSync({ maxBlockRange: 7 });
    const result = await sync.poll();
    const view = sync.requireFreshPolicy();
    // A batch of submitters makes one change per submitter, so versions outnumber transactions.
    expect(view.confirmed.policyVersion).toBeGreaterThanOrEqual(BigInt(applied));
    const onChain = await readPolicyFromChain({
      client: chain.publicClient,
      registry: chain.registry,
      blockNumber: result.confirmed.blockNumber,
      accounts,
      runIds,
    });
    expect(diffPolicies(view.confirmed.policy, onChain)).toEqual([]);
    await sync.close();

    // And at points along the way: the events up to a block give the views at that block.
    const deployment = chain.deployment;
    const genesis = createGenesisPolicy({
      guardian: deployment.guardian,
      revealDelay: BigInt(deployment.settings.revealDelay),
    });
    const events = await fetchPolicyEvents({
      client: chain.publicClient,
      registry: chain.registry,
      fromBlock: BigInt(deployment.deploymentBlock),
      toBlock: result.confirmed.blockNumber,
      maxBlockRange: 10_000,
    });
    // Every kind of change was made, so every branch of the reducer was compared with the views.
    expect(new Set(events.map((event) => event.eventName)).size).toBe(14);
    for (const blockNumber of checkpoints) {
      const reduced = reducePolicy(
        genesis,
        events.filter((event) => event.blockNumber <= blockNumber),
      );
      const atBlock = await readPolicyFromChain({
        client: chain.publicClient,
        registry: chain.registry,
        blockNumber,
        accounts,
        runIds,
      });
      expect({ blockNumber, differing: diffPolicies(reduced, atBlock) }).toEqual({ blockNumber, differing: [] });
    }
    console.info(
      `policy fuzz: seed ${SEED}, ${STEPS} steps, ${applied} changes applied (${events.filter((e) => e.eventName === "TierJoined").length} tier joins), ${reverted} refused, ${checkpoints.length} intermediate blocks compared`,
    );
  });
});
