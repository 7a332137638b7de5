import { isHex, parseEventLogs, type Hex } from "viem";
import { contributorRewardsAbi } from "@dao-ai/pipeline-worker/abis";
import { BaseError } from "@dao-ai/pipeline-worker/attestations";
import { transact } from "../consume/consumeContext.ts";
import type { ContributeContext } from "./earningsCommands.ts";

export const WITHDRAW_USAGE = `  withdraw --data HASH withdraw a contribution (its data hash): no later training run uses it, keyholders
                       refuse its key shares and workers unpin its ciphertext; models already trained
                       with it keep what they learned (and keep paying it for that)`;

/**
 * The contributor withdraws one of its contributions on ContributorRewards. What the chain would
 * refuse (unknown, someone else's, already withdrawn) is said before a transaction is sent.
 */
async function withdraw(context: ContributeContext) {
  const dataHash = context.options.data;
  if (typeof dataHash !== "string" || !isHex(dataHash) || dataHash.length !== 66) {
    throw new BaseError("withdraw needs --data HASH, the contribution's data hash (0x and 64 hex digits).", {
      hints: ["`npm run contribute -- earnings` lists your contributions' data hashes."],
    });
  }
  const { contributorRewards } = context.deployment.contracts;
  const contribution = await context.publicClient.readContract({
    address: contributorRewards,
    abi: contributorRewardsAbi,
    functionName: "contributionOf",
    args: [dataHash as Hex],
  });
  const me = context.wallet.account.address;
  if (contribution.contributor === "0x0000000000000000000000000000000000000000") {
    throw new BaseError(`No contribution of data ${dataHash} is recorded.`, {
      hints: ["Check the hash: `npm run contribute -- earnings` lists your contributions."],
    });
  }
  if (contribution.contributor.toLowerCase() !== me.toLowerCase()) {
    throw new BaseError(`Contribution ${dataHash} is ${contribution.contributor}'s, not ${me}'s.`, {
      hints: ["Only its contributor can withdraw it: use that account (CONTRIBUTOR_PRIVATE_KEY or --account)."],
    });
  }
  if (contribution.withdrawnAt !== 0n) {
    throw new BaseError(
      `Contribution ${dataHash} was already withdrawn on ${new Date(Number(contribution.withdrawnAt) * 1000).toISOString()}.`,
    );
  }
  const receipt = await transact(context, `Withdrawing contribution ${dataHash}`, () =>
    context.wallet.writeContract({
      address: contributorRewards,
      abi: contributorRewardsAbi,
      functionName: "withdrawContribution",
      args: [dataHash as Hex],
    }),
  );
  const [event] = parseEventLogs({
    abi: contributorRewardsAbi,
    eventName: "ContributionWithdrawn",
    logs: receipt.logs,
  });
  const epoch = contribution.epoch;
  context.say(
    [
      "Withdrawn. No training run from now on includes it; keyholders refuse its key shares and workers unpin its ciphertext.",
      "Models already trained with it keep what they learned, and their fees still pay it (`npm run contribute -- claim`).",
      event !== undefined && event.args.weightRemoved > 0n
        ? `Epoch ${epoch} had not ended: its weight (${event.args.weightRemoved}) left that epoch's pool.`
        : `Epoch ${epoch} had ended: it keeps its share of that epoch's pool.`,
      "Copies that other IPFS nodes fetched are beyond the workers' reach (they stay encrypted).",
    ].join("\n"),
  );
}

export const withdrawCommands = { withdraw };
