// The operator's training command: `node pipeline-worker/src/training/main.ts <command> [options]`.
// It uses the worker's configuration (WORKER_CONFIG and WORKER_* variables: chain, key, data
// directory, storage) and, with the embedded Helia store, the worker's own IPFS repository, so
// stop the worker first or use Kubo (which both can share).
//
//   spec   --out FILE [--dimensions N]             build a run spec from this worker's recorded
//                                                  submissions; prints the specHash to approve
//   run    --run-id 0x.. --spec FILE --keyholders URL,URL,... [--weights-out FILE]
//                                                  train an approved run and commit the model
//   reveal --run-id 0x.. --weights FILE            reveal the weights after the reveal delay
//
// Prints one line saying what was wrong and what to do, and exits non-zero, on any failure.
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { createPublicClient, createWalletClient, http, type Chain, type Hex, type PublicClient } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { readDeploymentManifest } from "../chain/readDeploymentManifest.ts";
import { exitWithError } from "../internal/exitWithError.ts";
import { createLogger } from "../internal/createLogger.ts";
import { loadConfig } from "../internal/loadConfig.ts";
import { writeSecretFile } from "../internal/writeSecretFile.ts";
import { WorkerError } from "../internal/WorkerError.ts";
import { createKeyholderClient } from "../keyholder/createKeyholderClient.ts";
import type { ContentStore } from "../storage/ContentStore.ts";
import { createHeliaContentStore } from "../storage/createHeliaContentStore.ts";
import { createJournal } from "../storage/createJournal.ts";
import { createKuboContentStore } from "../storage/createKuboContentStore.ts";
import { buildRunSpec, listRecordedManifests } from "./buildRunSpec.ts";
import { revealModel } from "./revealModel.ts";
import { runTraining } from "./runTraining.ts";

const USAGE = [
  "usage: training/main.ts spec --out FILE [--dimensions N]",
  "       training/main.ts run --run-id 0x<32 bytes> --spec FILE --keyholders URL,URL,... [--weights-out FILE]",
  "       training/main.ts reveal --run-id 0x<32 bytes> --weights FILE",
].join("\n");

function fail(message: string): never {
  throw new WorkerError("VALIDATION_FAILED", message, { hints: [USAGE] });
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  const { values } = parseArgs({
    args: rest,
    options: {
      out: { type: "string" },
      dimensions: { type: "string" },
      "run-id": { type: "string" },
      spec: { type: "string" },
      keyholders: { type: "string" },
      "weights-out": { type: "string" },
      weights: { type: "string" },
    },
    strict: true,
  });
  const runId = (): Hex => {
    const value = values["run-id"] ?? fail("--run-id is missing.");
    if (!/^0x[0-9a-fA-F]{64}$/.test(value)) fail("--run-id must be 0x followed by 64 hex digits.");
    return value.toLowerCase() as Hex;
  };
  if (!["spec", "run", "reveal"].includes(command ?? "")) fail(`Unknown command ${JSON.stringify(command ?? "")}.`);

  const config = loadConfig();
  const logger = createLogger({ level: config.logLevel, name: "training" });
  const deployment = readDeploymentManifest(config.deploymentManifest);
  const chain: Chain = {
    id: config.chainId,
    name: `chain ${config.chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [config.rpcUrl] } },
  };
  const publicClient = createPublicClient({ chain, transport: http(config.rpcUrl) }) as PublicClient;
  const walletClient = createWalletClient({
    chain,
    transport: http(config.rpcUrl),
    account: privateKeyToAccount(config.privateKey),
  });
  const store: ContentStore =
    config.storage.kind === "kubo"
      ? createKuboContentStore({ url: config.storage.kuboUrl! })
      : await createHeliaContentStore({ directory: path.join(config.dataDir, "ipfs") });
  try {
    if (command === "spec") {
      const out = values.out ?? fail("--out is missing.");
      const journal = await createJournal({ directory: path.join(config.dataDir, "journal") });
      try {
        const manifests = await listRecordedManifests({
          publicClient,
          contributorRewards: deployment.contracts.contributorRewards,
          journal,
          fromBlock: BigInt(deployment.deploymentBlock),
        });
        const built = await buildRunSpec({
          publicClient,
          chainId: config.chainId,
          contributorRewards: deployment.contracts.contributorRewards,
          store,
          manifests,
          ...(values.dimensions ? { model: { dimensions: Number(values.dimensions) } } : {}),
        });
        await writeFile(out, built.document);
        console.log(
          JSON.stringify(
            {
              spec: out,
              specHash: built.specHash,
              submissions: built.spec.submissions.length,
              skipped: built.skipped,
              approve: `approveTrainingRun(runId, ${built.specHash}, ${walletClient.account.address}, expiresAt)`,
            },
            null,
            2,
          ),
        );
      } finally {
        await journal.close();
      }
    } else if (command === "run") {
      const specFile = values.spec ?? fail("--spec is missing.");
      const urls = (values.keyholders ?? fail("--keyholders is missing.")).split(",").filter(Boolean);
      const report = await runTraining({
        runId: runId(),
        spec: await readFile(specFile),
        publicClient,
        walletClient,
        chainId: config.chainId,
        contracts: deployment.contracts,
        store,
        keyholders: urls.map((url) => createKeyholderClient({ url, operator: walletClient })),
        logger,
      });
      const weightsOut = values["weights-out"] ?? `weights-${report.runId}.json`;
      // The plaintext weights stay with the operator until the reveal: 0600 even over an existing
      // file, and never through a symlink planted at the name (writeSecretFile says how).
      await writeSecretFile(weightsOut, report.weights);
      const { weights: _weights, ...summary } = report;
      // Weights on chain are uint256: printed as decimal strings.
      const json = (_key: string, value: unknown) => (typeof value === "bigint" ? value.toString() : value);
      console.log(JSON.stringify({ ...summary, weightsFile: weightsOut }, json, 2));
    } else {
      const weightsFile = values.weights ?? fail("--weights is missing.");
      const result = await revealModel({
        runId: runId(),
        weights: await readFile(weightsFile),
        publicClient,
        walletClient,
        modelCommitments: deployment.contracts.modelCommitments,
        store,
      });
      console.log(JSON.stringify(result, null, 2));
    }
  } finally {
    await store.close();
  }
}

main().catch(exitWithError);
