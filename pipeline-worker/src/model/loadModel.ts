import { readFileSync } from "node:fs";
import path from "node:path";
import {
  createPublicClient,
  http,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { modelCommitmentsAbi } from "../abis.ts";
import type { Logger } from "../internal/createLogger.ts";
import { isWorkerError, WorkerError } from "../internal/WorkerError.ts";
import { createKeyholderClient } from "../keyholder/createKeyholderClient.ts";
import type { ContentStore } from "../storage/ContentStore.ts";
import { createEmbeddedModel, embeddedWeightsHash } from "./createEmbeddedModel.ts";
import { createOpenAiModel } from "./createOpenAiModel.ts";
import type { Model } from "./Model.ts";
import { obtainCommittedWeights } from "./obtainCommittedWeights.ts";
import { DATA_LABELS } from "./trainingRecords.ts";

export type LoadModelParameters = {
  env?: Record<string, string | undefined>;
  /** Resolves relative paths. Default: the working directory. */
  cwd?: string;
  /** For checking weights against their on-chain commitment. */
  rpcUrl: string;
  /** The deployment manifest, for the ModelCommitments address. */
  deploymentManifest: string;
  /** A ready client (tests); otherwise one is made from `rpcUrl`. */
  publicClient?: PublicClient;
  /** The worker's content store, where the committed encrypted weights are read (keyholder mode). */
  store?: ContentStore | undefined;
  /** The worker's account, which signs its requests to the keyholders (keyholder mode). */
  walletClient?: WalletClient<Transport, Chain | undefined, Account> | undefined;
  /**
   * How long to keep asking keyholders that cannot be reached yet (services started together, a
   * keyholder restarting), in milliseconds. Default 60,000; refusals are never retried.
   */
  keyholderWaitMs?: number;
  logger?: Logger | undefined;
};

/**
 * The model the worker answers queries with, from the environment:
 *
 * | variable | meaning |
 * | --- | --- |
 * | WORKER_MODEL_RUN_ID | the training run whose committed model is served |
 * | WORKER_MODEL_KEYHOLDERS | with it alone: the keyholders' URLs, comma-separated; the worker fetches the run's encrypted weights from its content store and their key from these keyholders (obtainCommittedWeights.ts) |
 * | WORKER_MODEL_WEIGHTS | instead of keyholders: a plaintext weights file of the embedded model (what `training/main.ts run` writes), for an operator who trained the model itself |
 * | WORKER_MODEL_OPENAI_URL | instead: an OpenAI-compatible API's base URL, e.g. http://127.0.0.1:8000/v1 |
 * | WORKER_MODEL_OPENAI_MODEL | the model name there |
 * | WORKER_MODEL_OPENAI_API_KEY | its key, if it needs one (never logged) |
 * | WORKER_MODEL_LABELS | the labels it chooses from, comma-separated; default `legit,scam` |
 *
 * Either way the weights must hash to the run's commitment on chain, or the worker does not start
 * (WEIGHTS_MISMATCH). None set: no model (the worker refuses queries with MODEL_UNAVAILABLE). An
 * embedded model and an OpenAI URL both: CONFIG_INVALID.
 */
export async function loadModel(parameters: LoadModelParameters): Promise<Model | undefined> {
  const env = parameters.env ?? process.env;
  const get = (name: string) => (env[name]?.trim() ? env[name]!.trim() : undefined);
  const weightsFile = get("WORKER_MODEL_WEIGHTS");
  const keyholderUrls = get("WORKER_MODEL_KEYHOLDERS");
  const openAiUrl = get("WORKER_MODEL_OPENAI_URL");
  if ((weightsFile !== undefined || keyholderUrls !== undefined) && openAiUrl !== undefined) {
    throw new WorkerError(
      "CONFIG_INVALID",
      "Set WORKER_MODEL_KEYHOLDERS (or WORKER_MODEL_WEIGHTS) or WORKER_MODEL_OPENAI_URL, not both.",
    );
  }
  if (weightsFile !== undefined && keyholderUrls !== undefined) {
    throw new WorkerError(
      "CONFIG_INVALID",
      "Set WORKER_MODEL_KEYHOLDERS or WORKER_MODEL_WEIGHTS, not both: the weights come from the keyholders or from a file.",
    );
  }
  if (openAiUrl !== undefined) {
    const model = get("WORKER_MODEL_OPENAI_MODEL");
    if (model === undefined) {
      throw new WorkerError("CONFIG_INVALID", "WORKER_MODEL_OPENAI_MODEL is missing; set it to the model's name.");
    }
    return createOpenAiModel({
      baseUrl: openAiUrl,
      model,
      apiKey: get("WORKER_MODEL_OPENAI_API_KEY"),
      labels: (get("WORKER_MODEL_LABELS") ?? DATA_LABELS.join(",")).split(",").map((label) => label.trim()),
    });
  }
  const runIdSet = get("WORKER_MODEL_RUN_ID");
  if (weightsFile === undefined && keyholderUrls === undefined) {
    if (runIdSet === undefined) return undefined;
    throw new WorkerError("CONFIG_INVALID", "WORKER_MODEL_RUN_ID is set but WORKER_MODEL_KEYHOLDERS is missing.", {
      hints: [
        "Set WORKER_MODEL_KEYHOLDERS to the keyholders' URLs, comma-separated, as the training command takes them.",
      ],
    });
  }

  // The worker serves only weights some training run committed on chain: without the run, a
  // weights file would be a model nobody can check, so the check is not optional.
  const runId = runIdSet;
  if (runId === undefined) {
    throw new WorkerError(
      "CONFIG_INVALID",
      "WORKER_MODEL_RUN_ID is missing: the worker serves only committed models.",
      {
        hints: [
          "Set it to the training run whose commitment these weights are (the run id the training command took).",
        ],
      },
    );
  }
  if (!/^0x[0-9a-fA-F]{64}$/.test(runId)) {
    throw new WorkerError("CONFIG_INVALID", "WORKER_MODEL_RUN_ID must be 0x followed by 64 hex digits.");
  }
  const manifest = JSON.parse(readFileSync(parameters.deploymentManifest, "utf8")) as {
    chainId: number;
    contracts: { modelCommitments: Address; policyRegistry: Address };
  };
  const client =
    parameters.publicClient ?? (createPublicClient({ transport: http(parameters.rpcUrl) }) as PublicClient);

  if (keyholderUrls !== undefined) {
    const { store, walletClient } = parameters;
    if (store === undefined || walletClient === undefined) {
      throw new WorkerError("CONFIG_INVALID", "The keyholder model path needs the worker's content store and account.");
    }
    const obtain = () =>
      obtainCommittedWeights({
        runId: runId.toLowerCase() as Hex,
        client,
        modelCommitments: manifest.contracts.modelCommitments,
        policyRegistry: manifest.contracts.policyRegistry,
        chainId: manifest.chainId,
        store,
        keyholders: keyholderUrls
          .split(",")
          .map((url) => url.trim())
          .filter(Boolean)
          .map((url) => createKeyholderClient({ url })),
        worker: walletClient,
      });
    const deadline = Date.now() + (parameters.keyholderWaitMs ?? 60_000);
    for (;;) {
      try {
        const weights = await obtain();
        parameters.logger?.info({ runId, keyholders: keyholderUrls }, "committed model obtained from the keyholders");
        return { ...createEmbeddedModel({ weights }), runId: runId.toLowerCase() as Hex };
      } catch (error) {
        if (!isWorkerError(error, "KEY_SHARES_INSUFFICIENT") || !error.retryable || Date.now() > deadline) throw error;
        parameters.logger?.warn(
          { runId, refusals: error.extra?.refusals },
          "too few keyholders could be reached for the model's key; asking again in 2 s",
        );
        await new Promise((resolve) => setTimeout(resolve, 2_000));
      }
    }
  }

  let weights: Uint8Array;
  try {
    weights = readFileSync(path.resolve(parameters.cwd ?? process.cwd(), weightsFile!));
  } catch (cause) {
    throw new WorkerError("CONFIG_INVALID", `WORKER_MODEL_WEIGHTS (${weightsFile}) cannot be read.`, { cause });
  }
  const commitment = await client.readContract({
    address: manifest.contracts.modelCommitments,
    abi: modelCommitmentsAbi,
    functionName: "commitmentOf",
    args: [runId as Hex],
  });
  const hash = embeddedWeightsHash(weights);
  if (commitment.committedAt === 0n || commitment.weightsHash.toLowerCase() !== hash) {
    throw new WorkerError(
      "WEIGHTS_MISMATCH",
      `The weights in ${weightsFile} are not the model committed for run ${runId}.`,
      {
        hints: ["Serve the weights file this run's training command wrote, with this run's id."],
        extra: { weightsHash: hash, committedWeightsHash: commitment.weightsHash },
      },
    );
  }
  return { ...createEmbeddedModel({ weights }), runId: runId.toLowerCase() as Hex };
}
