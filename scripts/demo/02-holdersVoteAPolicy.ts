import { parseEther, parseEventLogs, type Hex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { contributorRewardsAbi, policyRegistryAbi } from "../../deployments/abis.ts";
import { type Demo, chapter, expect, line, registry, style, vote, waitForWorkerPolicy } from "./story.ts";

export async function holdersVoteAPolicy(d: Demo): Promise<{ lab: Hex }> {
  chapter(
    "Token holders vote a policy in",
    "Holder A proposes to give a research lab 3 queries per epoch, to charge 0.001 ETH a query, and to grant 1 ETH from the treasury to this epoch's contributors. The holders vote with reasons; the timelock executes.",
  );
  const lab = generatePrivateKey();
  const labAddress = privateKeyToAccount(lab).address;
  const grant = parseEther("1");
  const fee = parseEther("0.001");
  const [poolBefore] = await d.clients.publicClient.readContract({
    address: d.deployment.contracts.contributorRewards,
    abi: contributorRewardsAbi,
    functionName: "epochTotals",
    args: [d.epoch],
  });
  const receipt = await vote(
    d,
    [
      registry(d, "setQuota", [labAddress, 3n]),
      registry(d, "setQueryFee", [fee]),
      {
        target: d.deployment.contracts.contributorRewards,
        abi: contributorRewardsAbi,
        functionName: "fund",
        args: [d.epoch],
        value: grant,
      },
    ],
    "Research lab access, a query fee, and a grant to contributors",
    [
      { holder: 0, support: 1, reason: "The lab's use is worth paying contributors for." },
      { holder: 1, support: 1, reason: "A fee keeps queries few, as they should be." },
      { holder: 2, support: 0, reason: "The grant is too generous this early." },
    ],
  );
  const events = parseEventLogs({ abi: policyRegistryAbi, logs: receipt.logs }).map((e) => e.eventName);
  expect(
    events.includes("QuotaSet") && events.includes("QueryFeeSet"),
    `the registry emitted ${events.join(", ")} (each bumps the policy version)`,
  );
  expect((await d.registry.read.quotaOf([labAddress])) === 3n, `the lab ${labAddress} may make 3 queries per epoch`);
  const [poolAfter] = await d.clients.publicClient.readContract({
    address: d.deployment.contracts.contributorRewards,
    abi: contributorRewardsAbi,
    functionName: "epochTotals",
    args: [d.epoch],
  });
  expect(poolAfter - poolBefore === grant, `epoch ${d.epoch}'s reward pool received 1 ETH from the treasury`);
  const version = await waitForWorkerPolicy(d);
  line(style.dim(`    the worker follows the chain: it enforces policy version ${version}`));
  return { lab };
}
