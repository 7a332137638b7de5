import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keccak256, toHex, type Hex } from "viem";
import { modelCommitmentsAbi } from "../../../deployments/abis.ts";
import { createGovernance, registryAction } from "../../../test/helpers/governance.ts";
import { createSystem, type System } from "../../../test/helpers/system.ts";
import { embeddedWeightsHash, encodeEmbeddedWeights, trainEmbeddedModel } from "../../src/model/createEmbeddedModel.ts";
import { generateScamMessages } from "../../src/model/generateScamMessages.ts";
import { loadModel } from "../../src/model/loadModel.ts";

let system: System;
let dir: string;
let weightsFile: string;
let weights: Uint8Array;
const runId = keccak256(toHex("served run"));

beforeAll(async () => {
  system = await createSystem();
  await system.delegateAll();
  dir = await mkdtemp(path.join(tmpdir(), "load-model-"));
  weights = encodeEmbeddedWeights(
    trainEmbeddedModel(generateScamMessages({ seed: 1, count: 300 }), { dimensions: 64 }),
  );
  weightsFile = path.join(dir, "weights.json");
  await writeFile(weightsFile, weights);
  await writeFile(path.join(dir, "deployment.json"), JSON.stringify(system.deployment));
  const worker = system.accounts.worker.account.address;
  const expiresAt = (await system.publicClient.getBlock()).timestamp + 86_400n;
  await createGovernance(system).pass([
    registryAction(system, "setWorker", [worker, true]),
    registryAction(system, "approveTrainingRun", [runId, keccak256(toHex("spec")), worker, expiresAt]),
  ]);
  await system.wait(
    await system.accounts.worker.writeContract({
      address: system.deployment.contracts.modelCommitments,
      abi: modelCommitmentsAbi,
      functionName: "commitModel",
      args: [
        runId,
        embeddedWeightsHash(weights),
        keccak256(toHex("set")),
        "ipfs://x",
        { root: keccak256(toHex("contributions")), totalWeight: 1n, uri: "ipfs://y" },
      ],
    }),
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const load = (env: Record<string, string>) =>
  loadModel({
    env,
    rpcUrl: "http://127.0.0.1:1",
    deploymentManifest: path.join(dir, "deployment.json"),
    publicClient: system.publicClient,
  });

describe("loadModel (the worker's model from its environment)", () => {
  it("serves the embedded model from a weights file, checked against its run's commitment", async () => {
    const model = await load({ WORKER_MODEL_WEIGHTS: weightsFile, WORKER_MODEL_RUN_ID: runId });
    expect(model?.id).toBe(embeddedWeightsHash(weights));
    expect(await load({})).toBeUndefined();
  });

  it("refuses unchecked weights: a weights file without the run that committed it does not start", async () => {
    await expect(load({ WORKER_MODEL_WEIGHTS: weightsFile })).rejects.toMatchObject({
      code: "CONFIG_INVALID",
      shortMessage: "WORKER_MODEL_RUN_ID is missing: the worker serves only committed models.",
    });
    await expect(load({ WORKER_MODEL_WEIGHTS: weightsFile, WORKER_MODEL_RUN_ID: "0x1234" })).rejects.toMatchObject({
      code: "CONFIG_INVALID",
    });
  });

  it("refuses weights that are not the committed ones, and contradictory settings", async () => {
    const other = path.join(dir, "other.json");
    await writeFile(
      other,
      encodeEmbeddedWeights(trainEmbeddedModel(generateScamMessages({ seed: 9, count: 300 }), { dimensions: 64 })),
    );
    await expect(load({ WORKER_MODEL_WEIGHTS: other, WORKER_MODEL_RUN_ID: runId })).rejects.toMatchObject({
      code: "WEIGHTS_MISMATCH",
    });
    await expect(
      load({ WORKER_MODEL_WEIGHTS: weightsFile, WORKER_MODEL_RUN_ID: keccak256(toHex("none")) as Hex }),
    ).rejects.toMatchObject({
      code: "WEIGHTS_MISMATCH",
    });
    await expect(
      load({ WORKER_MODEL_WEIGHTS: weightsFile, WORKER_MODEL_OPENAI_URL: "http://x/v1" }),
    ).rejects.toMatchObject({
      code: "CONFIG_INVALID",
    });
    await expect(load({ WORKER_MODEL_OPENAI_URL: "http://x/v1" })).rejects.toMatchObject({ code: "CONFIG_INVALID" });
    expect((await load({ WORKER_MODEL_OPENAI_URL: "http://x/v1", WORKER_MODEL_OPENAI_MODEL: "m" }))?.id).toBe(
      "external:m",
    );
  });
});
