// Gas of claiming a model's fees from RunRewards, on the bench chain after the contributions row
// recorded its contributions: the run's model commits a tree of those, its pool is funded as
// UsageSettlement's sweep funds it, and their contributor claims with proofs.
import { keccak256, parseEther, toHex, type Abi, type Hex } from "viem";
import { buildContributionsTree } from "@dao-ai/pipeline-worker/contributionsTree";
import {
  contributorRewardsAbi,
  modelCommitmentsAbi,
  policyRegistryAbi,
  runRewardsAbi,
} from "../../deployments/abis.ts";
import type { BenchSystem } from "../lib/bench/createBenchSystem.ts";
import { DEV_ROLES } from "../lib/stack/devAccounts.ts";

/** Leaves in the bench model's tree (proofs of 7 hashes), and leaves claimed at once in the claimMany row. */
export const RUN_TREE_LEAVES = 100;
export const CLAIM_MANY_LEAVES = 10;

export async function runRewardsGas(system: BenchSystem) {
  const { publicClient, wallet, deployment, wait, pass } = system;
  const { policyRegistry, contributorRewards, modelCommitments, runRewards } = deployment.contracts;
  const worker = wallet(DEV_ROLES.worker);
  const contributor = wallet(DEV_ROLES.contributor);
  const outsider = wallet(DEV_ROLES.outsider);

  // The contributions the bench recorded, with their weights as recorded.
  const recorded = await publicClient.getContractEvents({
    address: contributorRewards,
    abi: contributorRewardsAbi,
    eventName: "ContributionRecorded",
    fromBlock: BigInt(deployment.deploymentBlock),
    strict: true,
  });
  const leaves = recorded
    .filter(({ args }) => args.contributor.toLowerCase() === contributor.account.address.toLowerCase())
    .slice(0, RUN_TREE_LEAVES)
    .map(({ args }) => ({ dataHash: args.dataHash, contributor: args.contributor, weight: args.weight }));
  const tree = buildContributionsTree(leaves);

  const runId = keccak256(toHex("bench run"));
  const { timestamp } = await publicClient.getBlock();
  await pass([
    {
      target: policyRegistry,
      abi: policyRegistryAbi as Abi,
      functionName: "approveTrainingRun",
      args: [runId, keccak256(toHex("bench spec")), worker.account.address, timestamp + 30n * 86_400n],
    },
  ]);
  await wait(
    await worker.writeContract({
      address: modelCommitments,
      abi: modelCommitmentsAbi,
      functionName: "commitModel",
      args: [
        runId,
        keccak256(toHex("bench weights")),
        keccak256(toHex("bench training set")),
        "ipfs://bench-weights",
        { root: tree.root, totalWeight: tree.totalWeight, uri: "ipfs://bench-contributions" },
      ],
    }),
    "Committing the bench model",
  );
  const fund = async () =>
    wait(
      await outsider.writeContract({
        address: runRewards,
        abi: runRewardsAbi,
        functionName: "fundRun",
        args: [runId],
        value: parseEther("0.01"),
      }),
      "Funding the run's pool",
    );
  const claim = async (dataHash: Hex) => {
    const leaf = tree.proofOf(dataHash)!;
    return wait(
      await contributor.writeContract({
        address: runRewards,
        abi: runRewardsAbi,
        functionName: "claim",
        args: [runId, leaf.dataHash, leaf.weight, leaf.proof],
      }),
      "Claiming a model's fees",
    );
  };

  await fund();
  const first = await claim(leaves[0]!.dataHash);
  // More fees arrive; the same leaf claims the difference.
  await fund();
  const again = await claim(leaves[0]!.dataHash);
  const many = await wait(
    await contributor.writeContract({
      address: runRewards,
      abi: runRewardsAbi,
      functionName: "claimMany",
      args: [
        leaves.slice(1, 1 + CLAIM_MANY_LEAVES).map(({ dataHash }) => {
          const leaf = tree.proofOf(dataHash)!;
          return { runId, dataHash: leaf.dataHash, weight: leaf.weight, proof: leaf.proof };
        }),
      ],
    }),
    "Claiming several leaves at once",
  );
  return {
    first: first.gasUsed,
    again: again.gasUsed,
    manyPerLeaf: many.gasUsed / BigInt(CLAIM_MANY_LEAVES),
    proofLength: tree.proofOf(leaves[0]!.dataHash)!.proof.length,
  };
}
