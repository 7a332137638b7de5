import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { keccak256, sha256, toHex, type Hex } from "viem";
import { modelCommitmentsAbi } from "../../deployments/abis.ts";
import { devAddress, devPrivateKey } from "../lib/stack/devAccounts.ts";
import { stackPaths, writeJson, type ModelRecord } from "../lib/stack/stackFiles.ts";
import { sendStackCommand } from "../lib/stack/stackControl.ts";
import { stackServices } from "../lib/stack/stackServices.ts";
import { command, lastJson } from "./commands.ts";
import { type Demo, chapter, expect, line, registry, roles, style, vote, waitForWorkerPolicy } from "./story.ts";

export async function train(d: Demo) {
  chapter(
    "A training run is approved, the keyholders release their shares, and the model is trained",
    "The operator lists the recorded submissions in a run spec; the holders approve a run of exactly that spec. The keyholders check the approval on chain and each releases its share of every data key; two of three suffice. The worker decrypts, checks every plaintext against its attested hash, trains, and commits the weights' hash on chain.",
  );
  const paths = stackPaths(d.dataDir);
  const training = join(paths.root, "training");
  mkdirSync(training, { recursive: true });
  const env = stackServices({
    paths,
    host: d.info.host,
    ports: d.info.ports,
    workerPrivateKey: devPrivateKey(roles.worker),
    keyholderKeyFiles: d.info.keyholders.map((k) => k.keyFile),
  }).find((s) => s.name === "worker")!.env!;
  const runId = keccak256(toHex(`demo training run ${d.run}`));
  const specFile = join(training, `spec-${d.run}.json`);
  const weightsFile = join(training, `weights-${d.run}.json`);
  const trainingCommand = "node pipeline-worker/src/training/main.ts";
  const script = "pipeline-worker/src/training/main.ts";

  // The embedded IPFS repository is the worker's and one process opens it at a time: the
  // operator pauses the worker while training, as the training command asks.
  await sendStackCommand(paths.control, { command: "pause", service: "worker" });
  line(style.dim("    the operator pauses the worker: the training command opens its IPFS repository"));
  try {
    const built = lastJson<{ specHash: Hex; submissions: number }>(
      await command(trainingCommand, script, ["spec", "--out", specFile], env),
    );
    expect(
      built.submissions >= d.contributed.length,
      `the spec lists the ${built.submissions} submission${built.submissions === 1 ? "" : "s"} recorded on chain so far`,
    );

    const { timestamp } = await d.clients.publicClient.getBlock();
    await vote(
      d,
      [registry(d, "approveTrainingRun", [runId, built.specHash, devAddress(roles.worker), timestamp + 7n * 86_400n])],
      "Approve a training run of the scam classifier on the recorded data",
      [
        { holder: 0, support: 1, reason: "The data is attested and the spec is public." },
        { holder: 1, support: 1, reason: "Train it." },
        { holder: 2, support: 1, reason: "Agreed." },
      ],
    );
    expect(await d.registry.read.isTrainingRunApproved([runId]), `run ${runId.slice(0, 18)}… is approved`);

    await sendStackCommand(paths.control, { command: "pause", service: "keyholder-3" });
    line(style.dim("    keyholder 3 goes offline: two of the three shares are enough"));
    const keyholderUrls = d.info.services.filter((s) => s.name.startsWith("keyholder-")).map((s) => s.url);
    const report = lastJson<{
      included: unknown[];
      excluded: unknown[];
      examples: number;
      labels: string[];
      weightsHash: Hex;
      trainingSetHash: Hex;
      transactionHash: Hex;
    }>(
      await command(
        trainingCommand,
        script,
        [
          "run",
          "--run-id",
          runId,
          "--spec",
          specFile,
          "--keyholders",
          keyholderUrls.join(","),
          "--weights-out",
          weightsFile,
        ],
        env,
      ),
    );
    expect(
      report.included.length === built.submissions && report.excluded.length === 0,
      `every submission decrypted and matched its attested hash (${report.examples} examples, labels ${report.labels.join(", ")})`,
    );
    const commitment = await d.clients.publicClient.readContract({
      address: d.deployment.contracts.modelCommitments,
      abi: modelCommitmentsAbi,
      functionName: "commitmentOf",
      args: [runId],
    });
    expect(
      commitment.weightsHash === report.weightsHash,
      `ModelCommitments holds the weights' hash ${report.weightsHash.slice(0, 18)}… (revealed after the delay)`,
    );
    const weights = new Uint8Array(readFileSync(weightsFile));
    expect(
      await d.clients.publicClient.readContract({
        address: d.deployment.contracts.modelCommitments,
        abi: modelCommitmentsAbi,
        functionName: "verifyWeightsHash",
        args: [runId, sha256(weights)],
      }),
      "the operator's weights file matches the commitment; it stays private until the reveal",
    );
    // The operator serves the new model: the worker checks the weights against the commitment as it starts.
    writeJson(paths.model, { runId, weights: weightsFile } satisfies ModelRecord);
  } finally {
    await sendStackCommand(paths.control, { command: "resume", service: "keyholder-3" }).catch(() => {});
    await sendStackCommand(paths.control, { command: "resume", service: "worker" });
    line(style.dim("    the worker and keyholder 3 are back; the worker serves the new model"));
  }
  await waitForWorkerPolicy(d);
}
