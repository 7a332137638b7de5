import type { Address, Hex, PublicClient } from "viem";
import { contributorRewardsAbi, modelCommitmentsAbi, runRewardsAbi } from "../abis.ts";
import { parseContributionsTree, type ContributionsTree } from "../training/contributionsTree.ts";

/** What one contribution earned from one model's fees (RunRewards), with the proof to claim it. */
export type ContributionEarning = {
  runId: Hex;
  dataHash: Hex;
  contributor: Address;
  /** The contribution's weight in the model's tree, and the tree's total. */
  weight: bigint;
  totalWeight: bigint;
  /** Everything the model's pool received so far (its fees swept, treasury grants). */
  poolReceived: bigint;
  claimed: bigint;
  /** What a claim would pay now (0 while the contribution is voided or nothing is left). */
  claimable: bigint;
  proof: Hex[];
};

/** A committed model, as ModelCommitted announced it. */
export type CommittedModel = { runId: Hex; contributionsRoot: Hex; totalWeight: bigint; contributionsURI: string };

export type RewardsContracts = { contributorRewards: Address; modelCommitments: Address; runRewards: Address };

/** Every model committed since `fromBlock` (the deployment's block), oldest first. */
export async function listCommittedModels(
  publicClient: PublicClient,
  modelCommitments: Address,
  fromBlock: bigint,
): Promise<CommittedModel[]> {
  const logs = await publicClient.getContractEvents({
    address: modelCommitments,
    abi: modelCommitmentsAbi,
    eventName: "ModelCommitted",
    fromBlock,
    strict: true,
  });
  return logs.map(({ args }) => ({
    runId: args.runId,
    contributionsRoot: args.contributionsRoot,
    totalWeight: args.totalWeight,
    contributionsURI: args.contributionsURI,
  }));
}

/** The data hashes `contributor` contributed since `fromBlock`, oldest first. */
export async function listContributions(
  publicClient: PublicClient,
  contributorRewards: Address,
  contributor: Address,
  fromBlock: bigint,
): Promise<Hex[]> {
  const logs = await publicClient.getContractEvents({
    address: contributorRewards,
    abi: contributorRewardsAbi,
    eventName: "ContributionRecorded",
    args: { contributor },
    fromBlock,
    strict: true,
  });
  return logs.map(({ args }) => args.dataHash);
}

export type ReadContributionEarningsParameters = {
  publicClient: PublicClient;
  contracts: RewardsContracts;
  models: readonly CommittedModel[];
  dataHashes: readonly Hex[];
  /** The tree dump of a model (a worker's `GET /v1/runs/:runId/contributions`, an IPFS gateway). */
  readTree: (model: CommittedModel) => Promise<string | Uint8Array>;
};

/**
 * Which models used each of `dataHashes` and what each earned from them: a model's tree is read,
 * checked against its commitment (a tree that is not the committed one fails with
 * CONTRIBUTIONS_TREE_INVALID), and for each leaf of these data the claimed and claimable amounts
 * are read from RunRewards. A contribution in no model has no row.
 */
export async function readContributionEarnings(
  parameters: ReadContributionEarningsParameters,
): Promise<ContributionEarning[]> {
  const { publicClient, contracts } = parameters;
  const wanted = new Set(parameters.dataHashes.map((h) => h.toLowerCase()));
  const rows: ContributionEarning[] = [];
  for (const model of parameters.models) {
    const tree: ContributionsTree = parseContributionsTree(await parameters.readTree(model), {
      root: model.contributionsRoot,
      totalWeight: model.totalWeight,
    });
    const leaves = [...wanted].map((dataHash) => tree.proofOf(dataHash as Hex)).filter((leaf) => leaf !== undefined);
    if (leaves.length === 0) continue;
    const pool = await publicClient.readContract({
      address: contracts.runRewards,
      abi: runRewardsAbi,
      functionName: "runPool",
      args: [model.runId],
    });
    for (const leaf of leaves) {
      const [claimed, claimable] = await Promise.all([
        publicClient.readContract({
          address: contracts.runRewards,
          abi: runRewardsAbi,
          functionName: "claimed",
          args: [model.runId, leaf.dataHash],
        }),
        publicClient.readContract({
          address: contracts.runRewards,
          abi: runRewardsAbi,
          functionName: "claimable",
          args: [model.runId, leaf.dataHash, leaf.weight, leaf.proof],
        }),
      ]);
      rows.push({
        runId: model.runId,
        dataHash: leaf.dataHash,
        contributor: leaf.contributor,
        weight: leaf.weight,
        totalWeight: tree.totalWeight,
        poolReceived: pool.received,
        claimed,
        claimable,
        proof: leaf.proof,
      });
    }
  }
  return rows;
}
