import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getAddress, keccak256, toHex, type Address, type Hex } from "viem";
import { contributorRewardsAbi, modelCommitmentsAbi, runRewardsAbi } from "../../../deployments/abis.ts";
import { createAttestations } from "../../../test/helpers/attestations.ts";
import { registryAction } from "../../../test/helpers/governance.ts";
import { expectRevert } from "../../../test/helpers/revert.ts";
import {
  listCommittedModels,
  listContributions,
  readContributionEarnings,
  type CommittedModel,
} from "../../src/rewards/contributionEarnings.ts";
import { buildContributionsTree } from "../../src/training/contributionsTree.ts";
import {
  createInferenceTestSystem,
  devPrivateKey,
  type InferenceTestSystem,
} from "../inference/createInferenceTestSystem.ts";
import { createKeywordModel } from "../inference/createKeywordModel.ts";
import { serveChainOverHttp } from "../training/serveChainOverHttp.ts";

// Rewards follow use, end to end on the real chain, EAS and the worker's Helia node: the fees of
// the queries a committed model answers go to the contributions in that model, and to no other.

const RUN = keccak256(toHex("rewards follow use"));
const repoRoot = path.resolve(import.meta.dirname, "../../..");

let t: InferenceTestSystem;
let inModel: { dataHash: Hex; weight: bigint }[];
let notInModel: Hex;
let contributor: Address;
let outsider: Address;

beforeAll(async () => {
  t = await createInferenceTestSystem({ quota: 20n });
  contributor = getAddress(t.accounts.contributor.account.address);
  outsider = getAddress(t.accounts.outsider.account.address);
  const worker = t.workerWallets[0]!;
  const expiresAt = (await t.publicClient.getBlock()).timestamp + 30n * 86_400n;
  await t.governance.pass([
    registryAction(t, "setSubmitters", [[contributor, outsider], true]),
    registryAction(t, "setAttestationRequirement", [
      t.deployment.dataSchema.uid,
      [t.accounts.attester.account.address],
      1,
      0n,
    ]),
    registryAction(t, "approveTrainingRun", [RUN, keccak256(toHex("spec")), worker.account.address, expiresAt]),
  ]);
  // Three recorded contributions: two of the contributor's, in the model; the outsider's, in none.
  const { attest } = createAttestations(t);
  const record = async (who: Address, label: string, weight: bigint) => {
    const dataHash = keccak256(toHex(label));
    const uid = await attest({ attester: t.accounts.attester, recipient: who, data: { dataHash, size: 10_000n } });
    await t.wait(
      await worker.writeContract({
        address: t.deployment.contracts.contributorRewards,
        abi: contributorRewardsAbi,
        functionName: "recordContribution",
        args: [who, dataHash, 10_000n, weight, [uid]],
      }),
    );
    return { dataHash, weight };
  };
  inModel = [await record(contributor, "in the model: a", 30n), await record(contributor, "in the model: b", 10n)];
  notInModel = (await record(outsider, "in no model", 50n)).dataHash;
}, 120_000);
afterAll(async () => {
  await t?.cleanUp();
});

describe("rewards follow use", () => {
  it("pays a served model's query fees to the contributions in it, and nothing of them to one that is not; the CLI claims with proofs", async () => {
    const worker = t.workerWallets[0]!;
    const { runRewards, modelCommitments, contributorRewards } = t.deployment.contracts;
    const epoch = await t.currentEpoch();
    const epochLength = await t.readRegistry<bigint>("epochLength");

    // Before any model is committed, the worker answers two queries with no model of a run.
    const before = await t.startWorker();
    for (let i = 0; i < 2; i++) expect((await t.query(before, await t.signQuery())).status).toBe(200);

    // The training run commits its model with the contributions it used; the tree's dump is on IPFS.
    const tree = buildContributionsTree(inModel.map((c) => ({ ...c, contributor })));
    const stored = await before.worker.store.put([new TextEncoder().encode(tree.dump())]);
    await t.wait(
      await worker.writeContract({
        address: modelCommitments,
        abi: modelCommitmentsAbi,
        functionName: "commitModel",
        args: [
          RUN,
          keccak256(toHex("weights")),
          keccak256(toHex("training set")),
          "ipfs://weights",
          { root: tree.root, totalWeight: tree.totalWeight, uri: `ipfs://${stored.cid.toString()}` },
        ],
      }),
    );
    await before.close();

    // The worker restarts serving the run's model: at start it settles what it served before, then declares the run.
    const serving = await t.startWorker({ dataDir: before.dataDir, model: { ...createKeywordModel(), runId: RUN } });
    const url = await serving.worker.listen();
    expect(await t.readSettlement("servedRun", [worker.account.address])).toBe(RUN);
    expect(
      await t.readSettlement("settledTotal", [
        t.consumer.address,
        "0x0000000000000000000000000000000000000000",
        worker.account.address,
        epoch,
      ]),
    ).toBe(2n);
    for (let i = 0; i < 3; i++) expect((await t.query(serving, await t.signQuery())).status).toBe(200);

    // The epoch ends: the lane settles; its window closes: the settler sweeps each (epoch, run).
    await t.advanceTime(Number(epochLength));
    expect(await serving.worker.inference.settle({ all: false })).toMatchObject({ settled: 1 });
    await t.advanceTime(Number(epochLength));
    await serving.worker.inference.settle({ all: false });
    expect(await t.readSettlement("feesOf", [epoch])).toEqual([2n * t.fee, true]);
    expect(await t.readSettlement("runFeesOf", [epoch, RUN])).toEqual([3n * t.fee, true]);
    const pool = await t.publicClient.readContract({
      address: runRewards,
      abi: runRewardsAbi,
      functionName: "runPool",
      args: [RUN],
    });
    expect(pool).toMatchObject({ received: 3n * t.fee, paid: 0n, totalWeight: 40n, root: tree.root });

    // What each contribution earned from the model, with the tree read from the worker's API.
    const fromBlock = BigInt(t.deployment.deploymentBlock);
    const models = await listCommittedModels(t.publicClient, modelCommitments, fromBlock);
    const readTree = async (model: CommittedModel) =>
      new Uint8Array(await (await fetch(`${url}/v1/runs/${model.runId}/contributions`)).arrayBuffer());
    const contracts = { contributorRewards, modelCommitments, runRewards };
    const mine = await readContributionEarnings({
      publicClient: t.publicClient,
      contracts,
      models,
      dataHashes: await listContributions(t.publicClient, contributorRewards, contributor, fromBlock),
      readTree,
    });
    expect(mine.map((r) => ({ runId: r.runId, dataHash: r.dataHash, claimable: r.claimable }))).toEqual([
      { runId: RUN, dataHash: inModel[0]!.dataHash, claimable: (3n * t.fee * 30n) / 40n },
      { runId: RUN, dataHash: inModel[1]!.dataHash, claimable: (3n * t.fee * 10n) / 40n },
    ]);
    // The outsider's data is in no model: nothing of the model's fees is its, whatever it claims.
    expect(
      await readContributionEarnings({
        publicClient: t.publicClient,
        contracts,
        models,
        dataHashes: [notInModel],
        readTree,
      }),
    ).toEqual([]);
    await expectRevert(
      t.accounts.outsider.writeContract({
        address: runRewards,
        abi: runRewardsAbi,
        functionName: "claim",
        args: [RUN, notInModel, 50n, tree.proofOf(inModel[0]!.dataHash)!.proof],
      }),
      "RunRewardsInvalidProof",
    );
    // Both shared the epoch's pool, which got only the fees of the queries answered before the model.
    const [epochPool] = await t.publicClient.readContract({
      address: contributorRewards,
      abi: contributorRewardsAbi,
      functionName: "epochTotals",
      args: [epoch],
    });
    expect(epochPool).toBe(2n * t.fee);

    // The contributor's CLI shows it and claims with the proofs, over HTTP as a user runs it.
    const chain = await serveChainOverHttp(t.connection.provider);
    try {
      const cli = (command: string) =>
        promisify(execFile)(
          process.execPath,
          [
            path.join(repoRoot, "scripts", "contribute.ts"),
            command,
            "--rpc-url",
            chain.url,
            "--manifest",
            t.manifest,
            "--worker-url",
            url,
          ],
          { cwd: repoRoot, env: { ...process.env, CONTRIBUTOR_PRIVATE_KEY: devPrivateKey(6) } },
        );
      const earnings = await cli("earnings");
      expect(earnings.stdout).toContain(`Contribution ${inModel[0]!.dataHash}:`);
      expect(earnings.stdout).toContain("weight 30 of 40; earned 0.00225 ETH (claimed 0 ETH, claimable 0.00225 ETH)");
      const claimed = await cli("claim");
      expect(claimed.stdout).toContain(`Claimed 0.003 ETH for ${contributor}.`);
    } finally {
      await chain.close();
    }
    for (const [i, c] of inModel.entries()) {
      expect(
        await t.publicClient.readContract({
          address: runRewards,
          abi: runRewardsAbi,
          functionName: "claimed",
          args: [RUN, c.dataHash],
        }),
      ).toBe(i === 0 ? (3n * t.fee * 30n) / 40n : (3n * t.fee * 10n) / 40n);
    }
    expect(await t.readSettlement("runFeesOf", [epoch, RUN])).toEqual([3n * t.fee, true]);
  }, 180_000);
});
