import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Hex } from "viem";
import { modelCommitmentsAbi } from "../../../deployments/abis.ts";
import { createSnapshots } from "../../../test/helpers/snapshots.ts";
import { createKeyholderClient, type KeyholderClient } from "../../src/keyholder/createKeyholderClient.ts";
import { generateScamMessages } from "../../src/model/generateScamMessages.ts";
import { encodeRunSpec, RUN_SPEC_FORMAT, runSpecHash } from "../../src/training/runSpec.ts";
import { runTraining } from "../../src/training/runTraining.ts";
import { createFaultyContentStore } from "../helpers/createFaultyContentStore.ts";
import { startKeyholderProcess, type KeyholderProcess } from "../helpers/startKeyholderProcess.ts";
import { createTrainingSystem, type Submitted, type TrainingSystem } from "../training/createTrainingSystem.ts";
import { serveChainOverHttp } from "../training/serveChainOverHttp.ts";

// A training run whose keyholder is killed (SIGKILL) while it gathers key shares, and one whose
// content store fails while it reads: the run either completes with every submission, or ends
// with a retryable error having committed nothing, and the retry completes with every submission.
// A transient fault never leaves a contribution out of a commitment that cannot be made again.

const SUBMISSIONS = 4;
const ROUNDS = process.env.SOAK ? 3 : 1;

let t: TrainingSystem;
let chain: Awaited<ReturnType<typeof serveChainOverHttp>>;
let dir: string;
let submitted: Submitted[];
let spec: Uint8Array;
let runId: Hex;
let snapshots: ReturnType<typeof createSnapshots>;
let keyholder: KeyholderProcess;
const summary = { kills: 0, restarts: 0, storeFaults: 0, retryableFailures: 0, completed: 0, killSwitchRefusals: 0 };

beforeAll(async () => {
  t = await createTrainingSystem();
  const records = generateScamMessages({ seed: 3, count: 40 * SUBMISSIONS });
  submitted = [];
  for (let i = 0; i < SUBMISSIONS; i++) submitted.push(await t.submitRecords(records.slice(i * 40, (i + 1) * 40)));
  spec = encodeRunSpec({
    format: RUN_SPEC_FORMAT,
    chainId: t.deployment.chainId,
    contributorRewards: t.contracts.contributorRewards,
    model: { kind: "embedded", dimensions: 256, ngrams: 1 },
    submissions: submitted.map(({ manifest, dataHash }) => ({ manifest, dataHash })),
  });
  runId = await t.approveRun(runSpecHash(spec));
  snapshots = createSnapshots(t.testClient);
  await snapshots.save();
  chain = await serveChainOverHttp(t.connection.provider);
  dir = await mkdtemp(path.join(tmpdir(), "faults-training-"));
  keyholder = await startKeyholderProcess({
    privateKey: t.s.keyholderKeys[0]!.privateKey,
    rpcUrl: chain.url,
    chainId: t.deployment.chainId,
    deploymentManifest: path.join(t.s.dataDir, "deployment.json"),
    directory: dir,
    name: "keyholder-0",
  });
}, 120_000);
beforeEach(async () => {
  await snapshots.restore();
  if (keyholder.process.exitCode !== null || keyholder.process.signalCode !== null) {
    keyholder = await keyholder.restart();
  }
});
afterAll(async () => {
  console.info(
    `faults: keyholder/ipfs during training: ${summary.kills} keyholders killed (SIGKILL), ${summary.restarts} restarted, ` +
      `${summary.storeFaults} content store read failures; ${summary.retryableFailures} runs ended retryable with nothing committed, ` +
      `${summary.completed} runs completed with all ${SUBMISSIONS} submissions; ${summary.killSwitchRefusals} keyholder refusals right after a kill switch`,
  );
  await keyholder?.kill();
  await chain?.close();
  await t?.closeAll();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The keyholder process's client, which runs `afterFirstShare` once, right after the first share it released. */
function clientKillingAfterFirstShare(afterFirstShare: () => Promise<void>): KeyholderClient {
  const client = createKeyholderClient({ url: keyholder.url, timeoutMs: 5_000, operator: t.accounts.worker });
  let released = 0;
  return {
    ...client,
    async releaseShare(request) {
      const release = await client.releaseShare(request);
      if (++released === 1) await afterFirstShare();
      return release;
    },
  };
}

function train(keyholders: readonly KeyholderClient[], store = t.s.worker.store) {
  // One submission at a time, so that the fault falls between two of them.
  return runTraining({
    runId,
    spec,
    publicClient: t.publicClient,
    walletClient: t.accounts.worker,
    chainId: t.deployment.chainId,
    contracts: t.contracts,
    store,
    keyholders,
    concurrency: 1,
  });
}

async function committedAt(): Promise<bigint> {
  const commitment = await t.publicClient.readContract({
    address: t.contracts.modelCommitments,
    abi: modelCommitmentsAbi,
    functionName: "commitmentOf",
    args: [runId],
  });
  return commitment.committedAt;
}

async function expectCompleteRetry(keyholders: readonly KeyholderClient[], store = t.s.worker.store) {
  const report = await train(keyholders, store);
  expect(report.included).toHaveLength(SUBMISSIONS);
  expect(report.excluded).toEqual([]);
  expect(await committedAt()).toBeGreaterThan(0n);
  summary.completed++;
}

describe("a keyholder killed while a training run gathers key shares", () => {
  // Two of the committee's three keyholders take part, the threshold: each share is needed.
  it("kept down: the run ends with a retryable KEY_SHARES_INSUFFICIENT and commits nothing; restarted, the retry completes", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      if (round > 0) await snapshots.restore();
      const dying = clientKillingAfterFirstShare(async () => {
        await keyholder.kill();
        summary.kills++;
      });
      const error = await train([dying, t.keyholders[1]!]).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: "KEY_SHARES_INSUFFICIENT", retryable: true });
      expect((error as Error).message).toContain(`Retry the run once ${keyholder.url}`);
      expect(await committedAt()).toBe(0n);
      summary.retryableFailures++;

      keyholder = await keyholder.restart();
      summary.restarts++;
      await expectCompleteRetry([
        createKeyholderClient({ url: keyholder.url, operator: t.accounts.worker }),
        t.keyholders[1]!,
      ]);
    }
  });

  it("restarted between two requests (its spec lost): the run gives the spec again and completes", async () => {
    const restarting = clientKillingAfterFirstShare(async () => {
      await keyholder.kill();
      summary.kills++;
      keyholder = await keyholder.restart();
      summary.restarts++;
    });
    await expectCompleteRetry([restarting, t.keyholders[1]!]);
  });
});

describe("a keyholder's view of the chain", () => {
  it("refuses at once after a kill switch, though its RPC client caches the head", async () => {
    // The keyholder process reads the chain over HTTP, with viem's default client as main.ts makes it.
    const client = createKeyholderClient({ url: keyholder.url, operator: t.accounts.worker });
    await client.putSpec(runId, spec);
    await t.engageKillSwitch("stop training");
    await expect(client.putSpec(runId, spec)).rejects.toMatchObject({ code: "KILL_SWITCH_ENGAGED" });
    summary.killSwitchRefusals++;
  });
});

describe("the content store failing while a training run reads", () => {
  it("ends the run with a retryable STORAGE_UNAVAILABLE and commits nothing; once it heals, the retry completes", async () => {
    const faulty = createFaultyContentStore(t.s.worker.store);
    // The first submission's manifest and ciphertext are read; the store fails from the third read on.
    faulty.set({ fail: "get", fromGet: 3 });
    const error = await train(t.keyholders, faulty.store).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "STORAGE_UNAVAILABLE", retryable: true });
    expect(await committedAt()).toBe(0n);
    summary.storeFaults += faulty.injected.get;
    summary.retryableFailures++;
    faulty.set({});
    await expectCompleteRetry(t.keyholders, faulty.store);
  });
});
