import { readFileSync } from "node:fs";
import path from "node:path";
import { createPublicClient, http, type Address, type Hex, type PublicClient } from "viem";
import { modelCommitmentsAbi } from "../abis.ts";
import { WorkerError } from "../internal/WorkerError.ts";
import { createEmbeddedModel, embeddedWeightsHash } from "./createEmbeddedModel.ts";
import { createOpenAiModel } from "./createOpenAiModel.ts";
import type { Model } from "./Model.ts";

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
};

/**
 * The model the worker answers queries with, from the environment:
 *
 * | variable | meaning |
 * | --- | --- |
 * | WORKER_MODEL_WEIGHTS | a weights file of the embedded model (what `training/main.ts run` writes) |
 * | WORKER_MODEL_RUN_ID | required with it: the weights must hash to this run's commitment on chain, or the worker does not start |
 * | WORKER_MODEL_OPENAI_URL | instead: an OpenAI-compatible API's base URL, e.g. http://127.0.0.1:8000/v1 |
 * | WORKER_MODEL_OPENAI_MODEL | the model name there |
 * | WORKER_MODEL_OPENAI_API_KEY | its key, if it needs one (never logged) |
 * | WORKER_MODEL_LABELS | the labels it chooses from, comma-separated; default `legit,scam` |
 *
 * Neither set: no model (the worker refuses queries with MODEL_UNAVAILABLE). Both: CONFIG_INVALID.
 */
export async function loadModel(parameters: LoadModelParameters): Promise<Model | undefined> {
  const env = parameters.env ?? process.env;
  const get = (name: string) => (env[name]?.trim() ? env[name]!.trim() : undefined);
  const weightsFile = get("WORKER_MODEL_WEIGHTS");
  const openAiUrl = get("WORKER_MODEL_OPENAI_URL");
  if (weightsFile !== undefined && openAiUrl !== undefined) {
    throw new WorkerError("CONFIG_INVALID", "Set WORKER_MODEL_WEIGHTS or WORKER_MODEL_OPENAI_URL, not both.");
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
      labels: (get("WORKER_MODEL_LABELS") ?? "legit,scam").split(",").map((label) => label.trim()),
    });
  }
  if (weightsFile === undefined) return undefined;

  let weights: Uint8Array;
  try {
    weights = readFileSync(path.resolve(parameters.cwd ?? process.cwd(), weightsFile));
  } catch (cause) {
    throw new WorkerError("CONFIG_INVALID", `WORKER_MODEL_WEIGHTS (${weightsFile}) cannot be read.`, { cause });
  }
  // The worker serves only weights some training run committed on chain: without the run, a
  // weights file would be a model nobody can check, so the check is not optional.
  const runId = get("WORKER_MODEL_RUN_ID");
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
    contracts: { modelCommitments: Address };
  };
  const client =
    parameters.publicClient ?? (createPublicClient({ transport: http(parameters.rpcUrl) }) as PublicClient);
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
  return createEmbeddedModel({ weights });
}
