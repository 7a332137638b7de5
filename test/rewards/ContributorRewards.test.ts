import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { getAddress, parseEther, parseEventLogs, type Address, type Hex, type TransactionReceipt } from "viem";
import { contributorRewardsAbi, policyRegistryAbi, usageSettlementAbi } from "../../deployments/abis.ts";
import { createAttestations, randomDataHash } from "../helpers/attestations.ts";
import { createGovernance, registryAction, type Governance } from "../helpers/governance.ts";
import { createQueries } from "../helpers/queries.ts";
import { expectRevert } from "../helpers/revert.ts";
import { createSnapshots } from "../helpers/snapshots.ts";
import { createSystem, type System, type Wallet } from "../helpers/system.ts";

// Rewards end to end: contributions recorded by a worker, fees settled from a consumer's deposit
// (they reach the epoch's reward pool only when swept, once its settlement window has closed), a
// treasury grant through a proposal, the epoch closed, and each contributor paid its pro-rata
// share, computed here independently with bigint floor division.

const FEE = parseEther("0.003");

let system: System;
let gov: Governance;
let eas: ReturnType<typeof createAttestations>;
let queries: ReturnType<typeof createQueries>;
let snapshots: ReturnType<typeof createSnapshots>;
let contributors: [Wallet, Wallet];

beforeAll(async () => {
  system = await createSystem();
  gov = createGovernance(system);
  eas = createAttestations(system);
  queries = createQueries(system);
  const wallets = (await system.viem.getWalletClients()) as unknown as Wallet[];
  contributors = [system.accounts.contributor, wallets[14]!];
  await system.delegateAll();
  const { worker, consumer, attester, deployer } = system.accounts;
  await gov.pass([
    registryAction(system, "setWorker", [worker.account.address, true]),
    registryAction(system, "setSubmitters", [contributors.map((c) => c.account.address), true]),
    registryAction(system, "setAttestationRequirement", [
      system.deployment.dataSchema.uid,
      [attester.account.address],
      1,
      0n,
    ]),
    registryAction(system, "setQuota", [consumer.account.address, 10n]),
    registryAction(system, "setQueryFee", [FEE]),
  ]);
  await system.wait(await queries.deposit(consumer, parseEther("1")));
  await system.wait(
    await deployer.sendTransaction({ to: system.deployment.contracts.timelock, value: parseEther("10") }),
  );
  snapshots = createSnapshots(system.testClient);
  await snapshots.save();
});
beforeEach(() => snapshots.restore());

const address = (w: Wallet): Address => getAddress(w.account.address);

function readRewards<T>(functionName: string, args: readonly unknown[] = []): Promise<T> {
  return system.publicClient.readContract({
    address: system.deployment.contracts.contributorRewards,
    abi: contributorRewardsAbi,
    functionName,
    args,
  } as never) as Promise<T>;
}

const epochEnd = (epoch: bigint) =>
  system.publicClient.readContract({
    address: system.deployment.contracts.policyRegistry,
    abi: policyRegistryAbi,
    functionName: "epochEnd",
    args: [epoch],
  });

/** Moves the chain to the first second of the next epoch and returns that epoch. */
async function startNextEpoch(): Promise<bigint> {
  const epoch = await queries.currentEpoch();
  await system.testClient.setNextBlockTimestamp({ timestamp: await epochEnd(epoch) });
  await system.testClient.mine({ blocks: 1 });
  return epoch + 1n;
}

/** Records one attested contribution per (contributor, size), in one batch. */
async function contribute(entries: [Wallet, bigint][]) {
  const inputs = [];
  for (const [contributor, size] of entries) {
    const data = { dataHash: randomDataHash(), size };
    const uid = await eas.attest({ attester: system.accounts.attester, recipient: contributor.account.address, data });
    inputs.push({
      contributor: contributor.account.address,
      dataHash: data.dataHash,
      size,
      // Weighted as their sizes, so that the shares below read as the sizes do.
      weight: size,
      attestationUIDs: [uid],
      offchainAttestations: [],
    });
  }
  return system.wait(
    await system.accounts.worker.writeContract({
      address: system.deployment.contracts.contributorRewards,
      abi: contributorRewardsAbi,
      functionName: "recordContributions",
      args: [inputs],
    }),
  );
}

/** Settles `count` queries of the consumer in `epoch`: one voucher for its lane's total, as a worker does. */
async function settleQueries(epoch: bigint, count: number) {
  const voucher = await queries.sign(system.accounts.consumer, { total: BigInt(count), epoch });
  return system.wait(await queries.settle([voucher]));
}

function readUsage<T>(functionName: string, args: readonly unknown[] = []): Promise<T> {
  return system.publicClient.readContract({
    address: system.deployment.contracts.usageSettlement,
    abi: usageSettlementAbi,
    functionName,
    args,
  } as never) as Promise<T>;
}

/** When `epoch`'s settlement window closes: no voucher of it settles from then on, and its fees can be swept. */
async function windowClosesAt(epoch: bigint): Promise<bigint> {
  return (await epochEnd(epoch)) + (await readUsage<bigint>("settlementWindow"));
}

function sweep(epoch: bigint) {
  return system.accounts.outsider.writeContract({
    address: system.deployment.contracts.usageSettlement,
    abi: usageSettlementAbi,
    functionName: "sweepFees",
    args: [epoch],
  });
}

/**
 * Moves the chain past `epoch`'s settlement window if it is not yet, and sweeps the epoch's fees
 * into its reward pool (anyone may), checking the FeesSwept event.
 */
async function sweepFees(epoch: bigint, amount: bigint) {
  const closesAt = await windowClosesAt(epoch);
  if ((await system.publicClient.getBlock()).timestamp < closesAt) {
    await system.testClient.setNextBlockTimestamp({ timestamp: closesAt });
    await system.testClient.mine({ blocks: 1 });
  }
  const receipt = await system.wait(await sweep(epoch));
  const [swept] = parseEventLogs({ abi: usageSettlementAbi, eventName: "FeesSwept", logs: receipt.logs });
  expect(swept?.args).toEqual({ epoch, amount });
  expect(await readUsage("feesOf", [epoch])).toEqual([amount, true]);
  return receipt;
}

/** Grants `amount` of the treasury's ether to `epoch`'s pool, through a proposal. */
function treasuryGrant(epoch: bigint, amount: bigint) {
  return gov.pass([
    {
      target: system.deployment.contracts.contributorRewards,
      value: amount,
      abi: contributorRewardsAbi,
      functionName: "fund",
      args: [epoch],
    },
  ]);
}

function claim(contributor: Wallet, epoch: bigint) {
  return contributor.writeContract({
    address: system.deployment.contracts.contributorRewards,
    abi: contributorRewardsAbi,
    functionName: "claim",
    args: [epoch],
  });
}

/** Claims and returns what arrived in the contributor's account (gas added back) and the receipt. */
async function claimAndMeasure(contributor: Wallet, send: () => Promise<Hex>) {
  const before = await system.publicClient.getBalance({ address: contributor.account.address });
  const receipt: TransactionReceipt = await system.wait(await send());
  const after = await system.publicClient.getBalance({ address: contributor.account.address });
  return { received: after - before + receipt.gasUsed * receipt.effectiveGasPrice, receipt };
}

describe("ContributorRewards end to end", () => {
  it("pays two contributors their pro-rata shares of fees and a treasury grant, once", async () => {
    const [alice, bob] = contributors;
    const sizes = [1_000n, 2_333n] as const;
    const epoch = await startNextEpoch();
    await contribute([
      [alice, sizes[0]],
      [bob, sizes[1]],
    ]);
    expect(await readRewards("shareOf", [epoch, address(alice)])).toEqual([sizes[0], 0n]);
    await settleQueries(epoch, 7);
    const grant = parseEther("1");
    await treasuryGrant(epoch, grant);

    const pool = grant + 7n * FEE;
    const totalWeight = sizes[0] + sizes[1];
    // The settled fees accrue in UsageSettlement until the epoch's window closes: the pool holds the grant.
    expect(await readRewards("epochTotals", [epoch])).toEqual([grant, totalWeight, 0n]);
    expect(await readUsage("feesOf", [epoch])).toEqual([7n * FEE, false]);
    expect(await system.publicClient.getBalance({ address: system.deployment.contracts.timelock })).toBe(
      parseEther("10") - grant,
    );

    // The epoch is not over: shares are not final, nothing can be claimed yet.
    expect(await readRewards("claimable", [epoch, address(alice)])).toBe(0n);
    await expectRevert(claim(alice, epoch), "RewardsEpochNotOver", [epoch, epoch]);

    // Over, but its window is open: late vouchers may still settle, so its fees cannot be swept yet.
    await system.testClient.setNextBlockTimestamp({ timestamp: await epochEnd(epoch) });
    await system.testClient.mine({ blocks: 1 });
    await expectRevert(sweep(epoch), "UsageSettlementWindowOpen", [epoch, await windowClosesAt(epoch)]);
    await sweepFees(epoch, 7n * FEE);
    expect(await readRewards("epochTotals", [epoch])).toEqual([pool, totalWeight, 0n]);
    // Fees are swept once.
    await expectRevert(sweep(epoch), "UsageFeesAlreadySwept", [epoch]);
    const expected = [(pool * sizes[0]) / totalWeight, (pool * sizes[1]) / totalWeight] as const;
    expect(await readRewards("claimable", [epoch, address(alice)])).toBe(expected[0]);
    expect(await readRewards("claimable", [epoch, address(bob)])).toBe(expected[1]);

    for (const [i, contributor] of contributors.entries()) {
      const { received, receipt } = await claimAndMeasure(contributor, () => claim(contributor, epoch));
      expect(received).toBe(expected[i]);
      const [event] = parseEventLogs({ abi: contributorRewardsAbi, eventName: "RewardClaimed", logs: receipt.logs });
      expect(event?.args).toEqual({ epoch, contributor: address(contributor), amount: expected[i] });
      expect(await readRewards("shareOf", [epoch, address(contributor)])).toEqual([sizes[i], expected[i]]);
    }

    // A second claim is refused and pays nothing.
    await expectRevert(claim(alice, epoch), "RewardsNothingToClaim", [epoch, address(alice)]);
    expect(await readRewards("shareOf", [epoch, address(alice)])).toEqual([sizes[0], expected[0]]);

    const paid = expected[0] + expected[1];
    expect(paid).toBeLessThanOrEqual(pool);
    expect(await readRewards("epochTotals", [epoch])).toEqual([pool, totalWeight, paid]);
    const [received, paidOut] = await readRewards<readonly bigint[]>("totals");
    expect(received).toBe(pool);
    expect(paidOut).toBe(paid);
    expect(received).toBeGreaterThanOrEqual(paidOut!);
    // Rounding dust stays in the contract; it is never paid twice.
    expect(await system.publicClient.getBalance({ address: system.deployment.contracts.contributorRewards })).toBe(
      received! - paidOut!,
    );
  });

  it("lets contributors claim the difference when a past epoch is topped up, across epochs at once", async () => {
    const [alice, bob] = contributors;
    const first = await startNextEpoch();
    await contribute([
      [alice, 3n],
      [bob, 7n],
    ]);
    await settleQueries(first, 5);
    const second = await startNextEpoch();
    await contribute([[alice, 1n]]);
    await settleQueries(second, 2);
    await startNextEpoch();
    // The first epoch's window closed as this one began; the second's is still open.
    await sweepFees(first, 5n * FEE);

    const firstPool = 5n * FEE;
    const { received: initial } = await claimAndMeasure(alice, () => claim(alice, first));
    expect(initial).toBe((firstPool * 3n) / 10n);

    // The treasury tops up the first epoch after Alice claimed; Alice alone in the second epoch.
    const topUp = parseEther("0.5");
    await treasuryGrant(first, topUp);
    await sweepFees(second, 2n * FEE);
    const { received: both } = await claimAndMeasure(alice, () =>
      alice.writeContract({
        address: system.deployment.contracts.contributorRewards,
        abi: contributorRewardsAbi,
        functionName: "claimMany",
        args: [[first, second, first]],
      }),
    );
    expect(both).toBe(((firstPool + topUp) * 3n) / 10n - initial + 2n * FEE);
    const { received: bobs } = await claimAndMeasure(bob, () => claim(bob, first));
    expect(bobs).toBe(((firstPool + topUp) * 7n) / 10n);
    const [received, paidOut] = await readRewards<readonly bigint[]>("totals");
    expect(received).toBe(firstPool + topUp + 2n * FEE);
    expect(paidOut).toBe(initial + both + bobs);
    expect(paidOut).toBeLessThanOrEqual(received!);
  });

  it("rolls the pool of an epoch without contributions over to the current epoch", async () => {
    const [alice] = contributors;
    const empty = await startNextEpoch();
    await settleQueries(empty, 4);
    await expectRevert(
      system.accounts.outsider.writeContract({
        address: system.deployment.contracts.contributorRewards,
        abi: contributorRewardsAbi,
        functionName: "rollOver",
        args: [empty],
      }),
      "RewardsEpochNotOver",
      [empty, empty],
    );
    // Over, but its fees are not in its pool until swept: there is nothing to roll over yet.
    await startNextEpoch();
    await expectRevert(
      system.accounts.outsider.writeContract({
        address: system.deployment.contracts.contributorRewards,
        abi: contributorRewardsAbi,
        functionName: "rollOver",
        args: [empty],
      }),
      "RewardsZeroAmount",
    );
    const next = await startNextEpoch();
    await sweepFees(empty, 4n * FEE);
    expect(await readRewards("epochTotals", [empty])).toEqual([4n * FEE, 0n, 0n]);
    await contribute([[alice, 10n]]);
    const receipt = await system.wait(
      await system.accounts.outsider.writeContract({
        address: system.deployment.contracts.contributorRewards,
        abi: contributorRewardsAbi,
        functionName: "rollOver",
        args: [empty],
      }),
    );
    const [rolled] = parseEventLogs({ abi: contributorRewardsAbi, eventName: "PoolRolledOver", logs: receipt.logs });
    expect(rolled?.args).toEqual({ fromEpoch: empty, toEpoch: next, amount: 4n * FEE });
    expect(await readRewards("epochTotals", [empty])).toEqual([0n, 0n, 0n]);
    expect(await readRewards("epochTotals", [next])).toEqual([4n * FEE, 10n, 0n]);

    // An epoch with contributions keeps its pool.
    await startNextEpoch();
    await expectRevert(
      system.accounts.outsider.writeContract({
        address: system.deployment.contracts.contributorRewards,
        abi: contributorRewardsAbi,
        functionName: "rollOver",
        args: [next],
      }),
      "RewardsEpochHasContributions",
      [next],
    );
    const { received } = await claimAndMeasure(alice, () => claim(alice, next));
    expect(received).toBe(4n * FEE);
  });

  it("refuses an empty grant", async () => {
    await expectRevert(
      system.accounts.deployer.writeContract({
        address: system.deployment.contracts.contributorRewards,
        abi: contributorRewardsAbi,
        functionName: "fund",
        args: [0n],
        value: 0n,
      }),
      "RewardsZeroAmount",
      [],
    );
    expect(await readRewards("totals")).toEqual([0n, 0n]);
  });
});
