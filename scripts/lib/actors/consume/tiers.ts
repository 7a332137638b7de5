import { setTimeout as sleep } from "node:timers/promises";
import { policyRegistryAbi } from "@dao-ai/pipeline-worker/abis";
import { BaseError } from "@dao-ai/pipeline-worker/attestations";
import { consumerAccessJsonSchema, type ConsumerAccessJson } from "@dao-ai/pipeline-worker/policy-json";
import { eth, transact, type ConsumeCommands, type ConsumeContext } from "./consumeContext.ts";

/** The registry's limit on the epochs bought at once (IPolicyRegistry.joinTier). */
const MAX_EPOCHS = 12n;

const USAGE = `  tiers                the access tiers the DAO voted (queries and price per epoch, open or closed,
                       members), and the consumer's membership and quota now
  join-tier ID         join tier ID (or renew a membership of it) by paying its price, with no vote
      --epochs N       for N epochs, 1 to ${MAX_EPOCHS} (default 1); a renewal extends the membership`;

// How long join-tier waits for the workers to see a membership before telling the consumer to check later.
const WORKER_WAIT_MS = 30_000;

type Tier = { tierId: number; queriesPerEpoch: bigint; pricePerEpoch: bigint; open: boolean; maxMembers: number };

async function readTiers(context: ConsumeContext) {
  const registry = { address: context.deployment.contracts.policyRegistry, abi: policyRegistryAbi } as const;
  const { publicClient, consumer } = context;
  const [count, epoch, [tierId, fromEpoch, untilEpoch], votedQuota] = await Promise.all([
    publicClient.readContract({ ...registry, functionName: "tierCount" }),
    publicClient.readContract({ ...registry, functionName: "currentEpoch" }),
    publicClient.readContract({ ...registry, functionName: "membershipOf", args: [consumer] }),
    publicClient.readContract({ ...registry, functionName: "quotaOf", args: [consumer] }),
  ]);
  const tiers = await Promise.all(
    Array.from({ length: count }, async (_, id) => {
      const [tier, members] = await Promise.all([
        publicClient.readContract({ ...registry, functionName: "tier", args: [id] }),
        publicClient.readContract({ ...registry, functionName: "tierMembers", args: [id, epoch] }),
      ]);
      return { tierId: id, ...tier, members };
    }),
  );
  const quota = await publicClient.readContract({ ...registry, functionName: "quotaAt", args: [consumer, epoch] });
  const membership = untilEpoch === 0n ? undefined : { tierId, fromEpoch, untilEpoch };
  // As the registry's joinTier sees it: a membership of a removed tier grants nothing.
  const active = membership !== undefined && untilEpoch > epoch && (tiers[tierId]?.queriesPerEpoch ?? 0n) > 0n;
  return { tiers, epoch, membership, active, votedQuota, quota };
}

/** "epoch 4" or "epochs 4 to 6" (`until` exclusive). */
const epochRange = (from: bigint, until: bigint) =>
  until - from === 1n ? `epoch ${from}` : `epochs ${from} to ${until - 1n}`;

const tierWords = (tier: Tier) =>
  `${tier.queriesPerEpoch} queries per epoch for ${eth(tier.pricePerEpoch)} an epoch, ${
    tier.open ? "open" : "closed to new members"
  }`;

/** `npm run consume -- tiers`: the tiers, and the consumer's membership and quota in the current epoch. */
export async function listTiers(context: ConsumeContext): Promise<void> {
  const { tiers, epoch, membership, active, votedQuota, quota } = await readTiers(context);
  const offered = tiers.filter((tier) => tier.queriesPerEpoch > 0n);
  if (offered.length === 0) {
    console.log("No access tier is offered: the DAO adds one by proposal (PolicyRegistry.setTier).");
  } else {
    console.log(`Access tiers (epoch ${epoch}):`);
    const rows = [
      ["tier", "queries/epoch", "price/epoch", "new members", "members now"],
      ...offered.map((tier) => [
        String(tier.tierId),
        tier.queriesPerEpoch.toString(),
        eth(tier.pricePerEpoch),
        tier.open ? "open" : "closed",
        tier.maxMembers === 0 ? String(tier.members) : `${tier.members} of ${tier.maxMembers}`,
      ]),
    ];
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
    for (const row of rows) console.log(`  ${row.map((cell, c) => cell.padEnd(widths[c]!)).join("  ")}`.trimEnd());
  }
  console.log("");
  console.log(
    membership === undefined
      ? `${context.consumer} is not a member of any tier.`
      : active
        ? `${context.consumer} is a member of tier ${membership.tierId} for ${epochRange(membership.fromEpoch, membership.untilEpoch)}.`
        : `${context.consumer}'s membership of tier ${membership.tierId} ended with epoch ${membership.untilEpoch - 1n} or its tier was removed.`,
  );
  if (votedQuota > 0n) console.log(`The DAO voted it ${votedQuota} queries per epoch: that quota wins over any tier.`);
  console.log(`Its quota this epoch: ${quota} queries.`);
  const open = offered.find((tier) => tier.open);
  if (!active && open !== undefined) {
    console.log(`Join one with: npm run consume -- join-tier ${open.tierId} --epochs 1${context.where}`);
  }
}

/**
 * `npm run consume -- join-tier ID [--epochs N]`: pays tier ID's price for N epochs from the
 * consumer's wallet (a renewal when it is already a member of ID), then waits until the workers
 * serve the new quota, so the next command can query at once.
 */
export async function joinTier(context: ConsumeContext): Promise<void> {
  const idText = context.args[0];
  if (idText === undefined || !/^\d+$/.test(idText) || Number(idText) > 254) {
    throw new BaseError(`join-tier takes a tier id (a number from 0); got ${idText ?? "nothing"}.`, {
      hints: [`List the tiers with: npm run consume -- tiers${context.where}`],
    });
  }
  const epochsText = context.options.epochs ?? "1";
  if (
    typeof epochsText !== "string" ||
    !/^\d+$/.test(epochsText) ||
    BigInt(epochsText) < 1n ||
    BigInt(epochsText) > MAX_EPOCHS
  ) {
    throw new BaseError(`--epochs takes a whole number from 1 to ${MAX_EPOCHS}; got ${String(epochsText)}.`);
  }
  const tierId = Number(idText);
  const epochs = BigInt(epochsText);
  if (context.consumer !== context.wallet.account.address) {
    throw new BaseError("join-tier joins the wallet's own account: --consumer cannot name another.", {
      hints: ["Run it as that consumer (--account N, or its CONSUMER_PRIVATE_KEY)."],
    });
  }
  const { tiers, epoch, membership, active } = await readTiers(context);
  const tier = tiers[tierId];
  if (tier === undefined || tier.queriesPerEpoch === 0n) {
    throw new BaseError(`Tier ${tierId} does not exist${tier === undefined ? "" : ": the DAO removed it"}.`, {
      hints: [`List the tiers with: npm run consume -- tiers${context.where}`],
    });
  }
  const renewal = active && membership?.tierId === tierId;
  const value = tier.pricePerEpoch * epochs;
  const from = renewal ? membership.untilEpoch : epoch;
  await transact(
    context,
    `${renewal ? "Renewing" : "Joining"} tier ${tierId} (${tierWords(tier)}) for ${epochRange(from, from + epochs)}, paying ${eth(value)}`,
    () =>
      context.wallet.writeContract({
        address: context.deployment.contracts.policyRegistry,
        abi: policyRegistryAbi,
        functionName: "joinTier",
        args: [tierId, epochs],
        value,
      }),
    {
      PolicyTierClosed: "The tier takes no new members (its members may still renew): choose an open tier.",
      PolicyTierFull: "The tier is full in that epoch: join for fewer epochs, or choose another tier.",
      PolicyTierMembershipActive: `One tier at a time: renew your tier, or join this one once it ends (npm run consume -- tiers${context.where}).`,
      PolicyTierWrongPayment: "The price changed since it was read: run the command again.",
    },
  );
  const after = await readTiers(context);
  const joined = after.membership!;
  console.log(
    `Member of tier ${tierId} for ${epochRange(joined.fromEpoch, joined.untilEpoch)}; quota this epoch: ${after.quota} queries.`,
  );
  await waitForWorkers(context, after.quota);
}

/** Waits until every worker's policy gives the consumer `quota` (the sync sees a join within a poll or so). */
async function waitForWorkers(context: ConsumeContext, quota: bigint) {
  const deadline = Date.now() + WORKER_WAIT_MS;
  for (const worker of context.workers) {
    context.say(`Waiting for ${worker.url} to see the membership...`);
    for (;;) {
      const answer = await worker.get(`/v1/policy?consumer=${context.consumer}`);
      const access =
        answer.status === 200 ? consumerAccessJsonSchema.safeParse(answer.body.consumer) : { success: false as const };
      const seen: ConsumerAccessJson | undefined = access.success ? access.data : undefined;
      if (seen !== undefined && BigInt(seen.quota) >= quota) {
        context.say(`  ${worker.url} serves ${seen.quota} queries this epoch (from a ${seen.source}).`);
        break;
      }
      if (Date.now() > deadline) {
        context.say(
          `  ${worker.url} does not show it yet (it waits for its block confirmations); check with: npm run consume -- tiers${context.where}`,
        );
        break;
      }
      await sleep(500);
    }
  }
}

export const tierCommands: ConsumeCommands = {
  usage: USAGE,
  commands: { tiers: listTiers, "join-tier": joinTier },
};
