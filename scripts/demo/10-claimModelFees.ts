import { formatEther, isAddressEqual, keccak256, toHex } from "viem";
import { contributorRewardsAbi, runRewardsAbi, usageSettlementAbi } from "../../deployments/abis.ts";
import { listCommittedModels, readContributionEarnings } from "@dao-ai/pipeline-worker/contributionEarnings";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { devAddress, devPrivateKey } from "../lib/stack/devAccounts.ts";
import { command } from "./commands.ts";
import { type Demo, chapter, expect, line, revertOf, roles, style, wait } from "./story.ts";

/** The fees of the queries the served model answered go to the contributions it was trained on, and to no other. */
export async function claimModelFees(d: Demo) {
  chapter(
    "The model's fees go to the contributions it was trained on",
    "The worker declared on chain that it serves the model of this story's run, so the fees of the queries it answered accrued to that run. Once the epoch's window closed they were swept to RunRewards, where the contributions in the model's tree share them by weight. The contributor sees what each contribution earned and claims with the proofs from the tree, with its CLI; a contribution outside the model gets nothing of them.",
  );
  const runId = keccak256(toHex(`demo training run ${d.run}`));
  const usage = { address: d.deployment.contracts.usageSettlement, abi: usageSettlementAbi } as const;
  expect(
    (await d.clients.publicClient.readContract({
      ...usage,
      functionName: "servedRun",
      args: [devAddress(roles.worker)],
    })) === runId,
    `the worker serves the model of run ${runId.slice(0, 18)}… (UsageSettlement.servedRun)`,
  );
  const [runFees, swept] = await d.clients.publicClient.readContract({
    ...usage,
    functionName: "runFeesOf",
    args: [d.epoch, runId],
  });
  if (!swept) {
    const why = await revertOf(
      d,
      { ...usage, functionName: "sweepRunFees", args: [d.epoch, runId] },
      devAddress(roles.outsider),
    );
    if (why === undefined) {
      await wait(
        d.clients,
        await d.clients
          .wallet(roles.outsider)
          .writeContract({ ...usage, functionName: "sweepRunFees", args: [d.epoch, runId] }),
      );
    } else if (why !== "UsageRunFeesAlreadySwept") {
      throw new BaseError(`Sweeping the run's fees of epoch ${d.epoch} failed: ${why}.`);
    }
  }
  const { contributorRewards, modelCommitments, runRewards } = d.deployment.contracts;
  const pool = await d.clients.publicClient.readContract({
    address: runRewards,
    abi: runRewardsAbi,
    functionName: "runPool",
    args: [runId],
  });
  expect(
    runFees > 0n && pool.received === runFees,
    `the ${formatEther(runFees)} ETH its queries paid went to the model's contributions (sweepRunFees ▶ RunRewards)`,
  );
  const model = (
    await listCommittedModels(d.clients.publicClient, modelCommitments, BigInt(d.deployment.deploymentBlock))
  ).find((m) => m.runId === runId)!;
  const recorded = await d.clients.publicClient.getContractEvents({
    address: contributorRewards,
    abi: contributorRewardsAbi,
    eventName: "ContributionRecorded",
    fromBlock: BigInt(d.deployment.deploymentBlock),
    strict: true,
  });
  const rows = await readContributionEarnings({
    publicClient: d.clients.publicClient,
    contracts: { contributorRewards, modelCommitments, runRewards },
    models: [model],
    dataHashes: recorded.map((r) => r.args.dataHash),
    readTree: async () => JSON.stringify((await d.worker.get(`/v1/runs/${runId}/contributions`)).body),
  });
  const inModel = new Set<string>(rows.map((r) => r.dataHash));
  const used = d.contributed.filter((c) => inModel.has(c.dataHash.toLowerCase()));
  const unused = d.contributed.filter((c) => !inModel.has(c.dataHash.toLowerCase()));
  expect(
    used.length > 0 && rows.every((r) => r.claimable > 0n),
    `${used.length} of the story's contributions are in the model's tree, and each contribution in it earned its share by weight`,
  );
  // The contribution submitted after the run was trained is in no model: none of these fees are its.
  for (const c of unused) {
    const claimable = await d.clients.publicClient.readContract({
      address: runRewards,
      abi: runRewardsAbi,
      functionName: "claimable",
      args: [runId, c.dataHash, c.weight, rows[0]!.proof],
    });
    expect(
      claimable === 0n,
      `the contribution ${c.dataHash.slice(0, 18)}…, recorded after the model was trained, is not in it: it earns nothing from its queries`,
    );
  }
  const outside = recorded.filter((r) => !inModel.has(r.args.dataHash.toLowerCase())).length;
  line(style.dim(`    ${outside} of the ${recorded.length} contributions recorded so far are outside this model`));
  const contributorKey = devPrivateKey(roles.contributor);
  const contribute = (args: string[]) =>
    command("npm run contribute --", "scripts/contribute.ts", [...args, "--data-dir", d.dataDir], {
      CONTRIBUTOR_PRIVATE_KEY: contributorKey,
    });
  await contribute(["earnings"]);
  const claimed = await contribute(["claim", "--run", runId]);
  const mine = rows
    .filter((r) => isAddressEqual(r.contributor, devAddress(roles.contributor)))
    .reduce((sum, r) => sum + r.claimable, 0n);
  expect(
    claimed.includes(`Claimed ${formatEther(mine)} ETH`),
    `the contributor claims the ${formatEther(mine)} ETH its contributions earned from the model, with their proofs`,
  );
}
