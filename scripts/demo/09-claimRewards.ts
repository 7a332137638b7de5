import { getContract, formatEther, parseEventLogs } from "viem";
import { contributorRewardsAbi, usageSettlementAbi } from "../../deployments/abis.ts";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { devAddress } from "../lib/stack/devAccounts.ts";
import { type Demo, chapter, expect, revertOf, roles, wait } from "./story.ts";

export async function claimRewards(d: Demo) {
  chapter(
    "The epoch ends and the contributor claims its reward",
    "Each epoch's pool is shared among that epoch's contributors by their unique accepted records: the treasury's grant, and the epoch's query fees, which accrue in UsageSettlement until the epoch's settlement window (one epoch after it) has closed and anyone sweeps them to the pool. Then the contributor claims.",
  );
  const usage = { address: d.deployment.contracts.usageSettlement, abi: usageSettlementAbi } as const;
  const window = await d.clients.publicClient.readContract({ ...usage, functionName: "settlementWindow" });
  const closes = (await d.registry.read.epochEnd([d.epoch])) + window;
  const { timestamp } = await d.clients.publicClient.getBlock();
  if (timestamp < closes) await d.clients.testClient.increaseTime({ seconds: Number(closes - timestamp) });
  await d.clients.testClient.mine({ blocks: 1 });
  expect(
    (await d.registry.read.currentEpoch()) > d.epoch + 1n,
    `epoch ${d.epoch} is over, and so is its settlement window (${window / 60n} minutes)`,
  );
  // The worker sweeps the epochs it settled in once their window closes; anyone may.
  const [accrued, swept] = await d.clients.publicClient.readContract({
    ...usage,
    functionName: "feesOf",
    args: [d.epoch],
  });
  if (!swept) {
    const why = await revertOf(d, { ...usage, functionName: "sweepFees", args: [d.epoch] }, devAddress(roles.outsider));
    if (why === undefined) {
      await wait(
        d.clients,
        await d.clients.wallet(roles.outsider).writeContract({ ...usage, functionName: "sweepFees", args: [d.epoch] }),
      );
    } else if (why !== "UsageFeesAlreadySwept") {
      throw new BaseError(`Sweeping epoch ${d.epoch}'s fees failed: ${why}.`);
    }
  }
  expect(
    (await d.clients.publicClient.readContract({ ...usage, functionName: "feesOf", args: [d.epoch] }))[1],
    `epoch ${d.epoch}'s ${formatEther(accrued)} ETH of query fees went to its reward pool (sweepFees)`,
  );

  const rewards = d.deployment.contracts.contributorRewards;
  const contributor = d.clients.wallet(roles.contributor);
  const address = contributor.account.address;
  const rewardsContract = getContract({ address: rewards, abi: contributorRewardsAbi, client: d.clients.publicClient });
  const [pool, totalWeight] = await rewardsContract.read.epochTotals([d.epoch]);
  const [weight] = await rewardsContract.read.shareOf([d.epoch, address]);
  const mine = d.contributed.reduce((sum, c) => sum + c.weight, 0n);
  // At least this story's records: the contributor may also have contributed outside the story.
  expect(
    weight >= mine && mine > 0n,
    `the contributor's weight is the ${weight} unique accepted records it contributed, of ${totalWeight} in the epoch`,
  );
  const claimable = await rewardsContract.read.claimable([d.epoch, address]);
  expect(
    claimable === (pool * weight) / totalWeight && claimable > 0n,
    `it may claim ${formatEther(claimable)} ETH of the ${formatEther(pool)} ETH pool, pro rata`,
  );
  const before = await d.clients.publicClient.getBalance({ address });
  const receipt = await wait(
    d.clients,
    await contributor.writeContract({
      address: rewards,
      abi: contributorRewardsAbi,
      functionName: "claim",
      args: [d.epoch],
    }),
  );
  const after = await d.clients.publicClient.getBalance({ address });
  const [claimed] = parseEventLogs({ abi: contributorRewardsAbi, eventName: "RewardClaimed", logs: receipt.logs });
  expect(
    claimed?.args.amount === claimable && after - before + receipt.gasUsed * receipt.effectiveGasPrice === claimable,
    `the contributor claims and receives ${formatEther(claimable)} ETH`,
  );
  const again = await revertOf(
    d,
    { address: rewards, abi: contributorRewardsAbi, functionName: "claim", args: [d.epoch] },
    address,
  );
  expect(again === "RewardsNothingToClaim", `claiming twice is refused (${again})`);
}
