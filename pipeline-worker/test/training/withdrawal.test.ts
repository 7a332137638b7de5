// A contributor withdraws a submission, on the real chain, with the worker's Helia node and three
// keyholders over HTTP: the next run's spec leaves it out, the keyholders refuse its key shares
// (even for a run approved before the withdrawal), the worker unpins its blocks and shows it withdrawn.
import { toHex, type Hex } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { contributorRewardsAbi } from "../../../deployments/abis.ts";
import { isWorkerError } from "../../src/internal/WorkerError.ts";
import type { KeyholderClient } from "../../src/keyholder/createKeyholderClient.ts";
import { generateScamMessages } from "../../src/model/generateScamMessages.ts";
import { buildRunSpec } from "../../src/training/buildRunSpec.ts";
import { recoverDataKey } from "../../src/training/gatherDataKey.ts";
import { collect } from "../helpers/submissions.ts";
import { createTrainingSystem, type Submitted, type TrainingSystem } from "./createTrainingSystem.ts";

let t: TrainingSystem;
let kept: Submitted;
let withdrawn: Submitted;
let keyholders: Map<string, KeyholderClient>;

beforeAll(async () => {
  t = await createTrainingSystem();
  const records = generateScamMessages({ seed: 16, count: 200 });
  kept = await t.submitRecords(records.slice(0, 100));
  withdrawn = await t.submitRecords(records.slice(100));
  keyholders = new Map(
    await Promise.all(t.keyholders.map(async (k) => [(await k.publicKey()).toLowerCase(), k] as const)),
  );
}, 180_000);

afterAll(async () => {
  await t?.closeAll();
});

function spec() {
  return buildRunSpec({
    publicClient: t.publicClient,
    chainId: t.deployment.chainId,
    contributorRewards: t.contracts.contributorRewards,
    store: t.s.worker.store,
    manifests: [kept.manifest, withdrawn.manifest],
  });
}

async function openKey(runId: Hex, submitted: Submitted) {
  const document = await collect(t.s.worker.store.get(submitted.manifest));
  return recoverDataKey(
    {
      runId,
      manifestCid: submitted.manifest,
      manifest: await t.readManifest(submitted.manifest),
      manifestDocument: new TextDecoder().decode(document),
      keyholders,
      operator: t.accounts.worker,
      chainId: t.deployment.chainId,
      policyRegistry: t.contracts.policyRegistry,
      nowSeconds: Math.floor(Date.now() / 1000),
    },
    async (key) => toHex(key),
  );
}

async function status(id: string) {
  return (await (await fetch(`${t.s.url}/v1/submissions/${id}`)).json()) as { state: string };
}

describe("withdrawing a submission", () => {
  it("keeps it out of the next run, its key shares refused, its blocks unpinned and its status withdrawn", async () => {
    // A run approved before the withdrawal lists both submissions.
    const before = await spec();
    expect(before.spec.submissions).toHaveLength(2);
    const runId = await t.approveRun(before.specHash);
    for (const keyholder of t.keyholders) await keyholder.putSpec(runId, before.document);
    await expect(openKey(runId, withdrawn)).resolves.toMatch(/^0x/);

    await t.s.wait(
      await t.accounts.contributor.writeContract({
        address: t.contracts.contributorRewards,
        abi: contributorRewardsAbi,
        functionName: "withdrawContribution",
        args: [withdrawn.dataHash],
      }),
    );

    // The next run's spec leaves it out and says why.
    const after = await spec();
    expect(after.spec.submissions.map((entry) => entry.dataHash)).toEqual([kept.dataHash.toLowerCase()]);
    expect(after.skipped).toEqual([{ manifest: withdrawn.manifest, reason: "its contributor withdrew it" }]);

    // Every keyholder refuses its shares, even for the run approved before; the other
    // submission's key is still released.
    const error = await openKey(runId, withdrawn).catch((e: unknown) => e);
    expect(isWorkerError(error) && error.code).toBe("KEY_SHARES_INSUFFICIENT");
    const refusals = (error as { extra: { refusals: { code: string }[] } }).extra.refusals;
    expect(refusals.map((refusal) => refusal.code)).toEqual(Array(3).fill("SUBMISSION_WITHDRAWN"));
    await expect(openKey(runId, kept)).resolves.toMatch(/^0x/);

    // The worker sees the withdrawal: its ciphertext and manifest are unpinned from its Helia node.
    const { ciphertext } = await t.readManifest(withdrawn.manifest);
    expect(await t.s.worker.store.has(ciphertext)).toBe(true);
    expect(await status(withdrawn.id)).toMatchObject({ state: "recorded" });
    expect(await t.s.worker.withdrawals.poll()).toBe(1);
    expect(await t.s.worker.store.has(ciphertext)).toBe(false);
    expect(await t.s.worker.store.has(withdrawn.manifest)).toBe(false);
    expect(await status(withdrawn.id)).toMatchObject({ state: "withdrawn" });
    // The other submission is untouched, and seeing the withdrawal again changes nothing.
    expect(await t.s.worker.store.has(kept.manifest)).toBe(true);
    expect(await status(kept.id)).toMatchObject({ state: "recorded" });
    expect(await t.s.worker.withdrawals.poll()).toBe(0);
  });

  it("refuses anyone but the contributor on chain, and the worker keeps the data", async () => {
    const error = await t.accounts.outsider
      .writeContract({
        address: t.contracts.contributorRewards,
        abi: contributorRewardsAbi,
        functionName: "withdrawContribution",
        args: [kept.dataHash],
      })
      .catch((e: unknown) => e);
    expect(String(error)).toContain("RewardsNotContributor");
    expect(await t.s.worker.withdrawals.poll()).toBe(0);
    expect(await t.s.worker.store.has(kept.manifest)).toBe(true);
    expect(await status(kept.id)).toMatchObject({ state: "recorded" });
  });
});
