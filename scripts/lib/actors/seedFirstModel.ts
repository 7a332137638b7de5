import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import {
  keccak256,
  sha256,
  toHex,
  zeroAddress,
  type Address,
  type Hex,
  type PublicClient,
  type TestClient,
} from "viem";
import { contributorRewardsAbi, modelCommitmentsAbi, policyRegistryAbi } from "../../../deployments/abis.ts";
import { submitContribution } from "@dao-ai/pipeline-worker/contribute";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { createEmbeddedModel, DEFAULT_FEATURES } from "@dao-ai/pipeline-worker/createEmbeddedModel";
import {
  FIRST_START_BATCHES,
  FIRST_START_HELD_OUT,
  generateScamMessages,
} from "@dao-ai/pipeline-worker/generateScamMessages";
import { encodeRunSpec, RUN_SPEC_FORMAT, runSpecHash } from "@dao-ai/pipeline-worker/runSpec";
import type { SubmissionStatus } from "@dao-ai/pipeline-worker/submission-api";
import { formatTrainingRecords } from "@dao-ai/pipeline-worker/trainingRecords";
import { repoRoot } from "../deploy/contractArtifacts.ts";
import { createGovernanceDriver, type Wallet } from "./createGovernanceDriver.ts";
import { createWorkerClient, submissionTransport } from "./createWorkerClient.ts";
import type { Deployment } from "../deploy/deploySystem.ts";
import { readJson, writeJson, type ModelRecord, type StackPaths } from "../stack/stackFiles.ts";
import { attestData } from "./attestData.ts";

export type SeedFirstModelParameters = {
  paths: StackPaths;
  publicClient: PublicClient;
  testClient: TestClient;
  deployment: Deployment;
  workerUrl: string;
  keyholderUrls: string[];
  /** The worker's environment: the training command runs with the worker's configuration. */
  workerEnv: Record<string, string>;
  /** The worker's account: the run's operator. */
  operator: Address;
  holders: readonly Wallet[];
  executor: Wallet;
  attester: Wallet;
  contributor: Wallet;
  /** Stops the worker (the training command opens its IPFS repository), and starts it again, serving the model. */
  pauseWorker: () => Promise<void>;
  resumeWorker: () => Promise<void>;
  onProgress?: (message: string) => void;
};

export type FirstModel = {
  runId: Hex;
  /** Whether an earlier start trained it (or `npm run demo` a later one), so nothing was trained now. */
  reused: boolean;
  examples: number;
  /** Share of the held-out messages it labels as their labeller did. */
  heldOutAccuracy: number;
  heldOutSize: number;
};

/**
 * Gives a fresh stack a model to answer with, the way any model comes to be: the demo contributor's
 * labelled messages (FIRST_START_BATCHES), attested by the trusted attester on EAS and submitted to
 * the worker, which encrypts, stores and records them; a training run of exactly those
 * submissions, approved by the holders' vote; the training command, for which two keyholders
 * release their key shares; the weights' hash committed on chain. The worker then serves the
 * committed model (checking the weights against the commitment as it starts).
 *
 * A stack that already serves a committed model (from an earlier start, or a later demo run)
 * keeps it: nothing is retrained. A start interrupted half-way resumes: recorded contributions are
 * not submitted again, an approved run is not voted on again.
 */
export async function seedFirstModel(parameters: SeedFirstModelParameters): Promise<FirstModel> {
  const { paths, publicClient, deployment } = parameters;
  const progress = parameters.onProgress ?? (() => {});
  const current = readJson<ModelRecord>(paths.model);
  if (current && existsSync(current.weights) && (await commitmentOf(current.runId)).committedAt !== 0n) {
    return { ...current, reused: true, ...(await evaluate(current.weights)) };
  }

  const worker = createWorkerClient(parameters.workerUrl);
  const batches = FIRST_START_BATCHES.map((batch) => {
    const data = new TextEncoder().encode(formatTrainingRecords(generateScamMessages(batch)));
    return { data, dataHash: sha256(data), records: batch.count };
  });
  // Attested one after the other (one attester account, one nonce at a time), submitted together.
  const pending: { dataHash: Hex; uid: Hex; data: Uint8Array }[] = [];
  for (const [i, batch] of batches.entries()) {
    const recorded = await publicClient.readContract({
      address: deployment.contracts.contributorRewards,
      abi: contributorRewardsAbi,
      functionName: "contributionOf",
      args: [batch.dataHash],
    });
    if (recorded.contributor !== zeroAddress) continue;
    const uid = await attestData({
      publicClient,
      attester: parameters.attester,
      eas: deployment.contracts.eas,
      schemaUID: deployment.dataSchema.uid,
      recipient: parameters.contributor.account.address,
      dataHash: batch.dataHash,
      size: BigInt(batch.data.byteLength),
      provenance: `npm start: demo batch ${i + 1} of labelled messages`,
    });
    progress(`the attester attests batch ${i + 1} (${batch.records} messages) on EAS`);
    pending.push({ dataHash: batch.dataHash, uid, data: batch.data });
  }
  await Promise.all(
    pending.map(async ({ data, uid, dataHash }) => {
      const status = await submitContribution({
        transport: submissionTransport(worker),
        signer: parameters.contributor,
        data,
        attestations: { onchain: [uid], offchain: [] },
        waitForRecording: {},
      });
      if (status.state !== "recorded") {
        throw new BaseError(`The worker rejected a demo contribution: ${status.rejection?.detail ?? status.state}.`);
      }
      progress(`the contributor's submission ${dataHash.slice(0, 10)}… is encrypted, stored and recorded on chain`);
    }),
  );

  // The run's spec lists exactly these contributions, as the worker recorded them; it is voted on
  // while the worker still serves, which pauses only for the training itself.
  const listed = await worker.get<{ submissions: (SubmissionStatus & { dataHash: Hex })[] }>(
    `/v1/submissions?contributor=${parameters.contributor.account.address}`,
  );
  const manifests = new Map(
    listed.body.submissions
      .filter((s) => s.state === "recorded" && s.manifestCid !== null)
      .map((s) => [s.dataHash.toLowerCase(), s.manifestCid!]),
  );
  const missing = batches.filter((batch) => !manifests.has(batch.dataHash));
  if (missing.length > 0) {
    throw new BaseError(`The worker holds no recorded submission of demo data ${missing[0]!.dataHash}.`, {
      hints: ["Start from a fresh data directory (--data-dir), or train a run yourself (npm run demo)."],
    });
  }
  const spec = encodeRunSpec({
    format: RUN_SPEC_FORMAT,
    chainId: await publicClient.getChainId(),
    contributorRewards: deployment.contracts.contributorRewards,
    model: { kind: "embedded", ...DEFAULT_FEATURES },
    submissions: batches.map((batch) => ({ manifest: manifests.get(batch.dataHash)!, dataHash: batch.dataHash })),
  });
  const specHash = runSpecHash(spec);
  mkdirSync(paths.training, { recursive: true });
  const specFile = join(paths.training, "first-model-spec.json");
  writeFileSync(specFile, spec);

  let paused = false;
  const pause = async () => {
    if (paused) return;
    await parameters.pauseWorker();
    paused = true;
    progress("the worker pauses: the training command opens its IPFS repository");
  };
  try {
    // One run per spec and attempt: a run committed by a start that stopped before saying where its
    // weights went cannot be committed again, so the next attempt is a new run.
    for (let attempt = 1; ; attempt++) {
      const runId = keccak256(toHex(`first model of ${deployment.contracts.policyRegistry}: ${specHash} #${attempt}`));
      const weightsFile = join(paths.training, `first-model-weights-${attempt}.json`);
      const commitment = await commitmentOf(runId);
      if (commitment.committedAt !== 0n) {
        if (existsSync(weightsFile) && sha256(readFileSync(weightsFile)) === commitment.weightsHash) {
          // Restarted below, so that it serves the model.
          await pause();
          writeJson(paths.model, { runId, weights: weightsFile } satisfies ModelRecord);
          break;
        }
        continue;
      }
      const approved = await publicClient.readContract({
        address: deployment.contracts.policyRegistry,
        abi: policyRegistryAbi,
        functionName: "isTrainingRunApproved",
        args: [runId],
      });
      if (!approved) {
        const { timestamp } = await publicClient.getBlock();
        const governance = createGovernanceDriver({
          publicClient,
          testClient: parameters.testClient,
          deployment,
          proposer: parameters.holders[0]!,
          executor: parameters.executor,
          onProgress: progress,
        });
        await governance.pass(
          [
            {
              target: deployment.contracts.policyRegistry,
              abi: policyRegistryAbi,
              functionName: "approveTrainingRun",
              args: [runId, specHash, parameters.operator, timestamp + 7n * 86_400n],
            },
          ],
          `# Train the first model\n\nApprove training run ${runId} of the scam classifier on the ${batches.length} attested demo contributions of spec ${specHash}, operated by the worker ${parameters.operator}.`,
          parameters.holders.map((voter) => ({ voter, support: 1 as const, reason: "Train it on the attested data." })),
        );
      }
      await pause();
      const report = await trainingCommand([
        "run",
        "--run-id",
        runId,
        "--spec",
        specFile,
        "--keyholders",
        parameters.keyholderUrls.join(","),
        "--weights-out",
        weightsFile,
      ]);
      progress(`run ${runId.slice(0, 10)}… trained on ${report.examples} messages; weights' hash committed on chain`);
      writeJson(paths.model, { runId, weights: weightsFile } satisfies ModelRecord);
      break;
    }
  } finally {
    if (paused) await parameters.resumeWorker();
  }
  const record = readJson<ModelRecord>(paths.model)!;
  return { ...record, reused: false, ...(await evaluate(record.weights)) };

  function commitmentOf(runId: Hex) {
    return publicClient.readContract({
      address: deployment.contracts.modelCommitments,
      abi: modelCommitmentsAbi,
      functionName: "commitmentOf",
      args: [runId],
    });
  }

  /** Runs the operator's training command with the worker's configuration; returns the JSON it printed last. */
  async function trainingCommand(args: string[]): Promise<Record<string, unknown>> {
    const child = spawn(process.execPath, [join(repoRoot, "pipeline-worker", "src", "training", "main.ts"), ...args], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...parameters.workerEnv },
    });
    const output: string[] = [];
    for (const stream of [child.stdout, child.stderr])
      createInterface({ input: stream }).on("line", (l) => output.push(l));
    const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
    const text = output.join("\n");
    if (code !== 0) {
      throw new BaseError(`The training command (${args[0]}) failed with exit code ${code}.`, {
        hints: [`Its output ends with:\n${output.slice(-5).join("\n")}`],
      });
    }
    const start = text.lastIndexOf("\n{");
    return JSON.parse(text.slice(start < 0 ? text.indexOf("{") : start + 1)) as Record<string, unknown>;
  }

  /** The served model's size, and its accuracy on messages it never saw. */
  async function evaluate(weightsFile: string) {
    const model = createEmbeddedModel({ weights: new Uint8Array(readFileSync(weightsFile)) });
    const heldOut = generateScamMessages(FIRST_START_HELD_OUT);
    let correct = 0;
    for (const record of heldOut) if ((await model.classify(record.text)).label === record.label) correct++;
    return {
      examples: model.weights.examples,
      heldOutAccuracy: correct / heldOut.length,
      heldOutSize: heldOut.length,
    };
  }
}
