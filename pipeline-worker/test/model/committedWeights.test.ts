import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { keccak256, toHex, type Hex } from "viem";
import { modelCommitmentsAbi, policyRegistryAbi } from "../../../deployments/abis.ts";
import { createGovernance, registryAction } from "../../../test/helpers/governance.ts";
import { createSnapshots } from "../../../test/helpers/snapshots.ts";
import type { Wallet } from "../../../test/helpers/system.ts";
import { generateKeyholderKeyPair } from "../../src/crypto/keyholderKeys.ts";
import { createLogger } from "../../src/internal/createLogger.ts";
import { createKeyholderClient, type KeyholderClient } from "../../src/keyholder/createKeyholderClient.ts";
import { createKeyholderServer } from "../../src/keyholder/createKeyholderServer.ts";
import type { KeyholderRateLimit } from "../../src/keyholder/registerKeyholderRoutes.ts";
import { modelKeyRequestTypes } from "../../src/keyholder/modelKeyRequest.ts";
import { keyholderDomain } from "../../src/keyholder/shareRequest.ts";
import { embeddedWeightsHash, encodeEmbeddedWeights, trainEmbeddedModel } from "../../src/model/createEmbeddedModel.ts";
import { generateScamMessages } from "../../src/model/generateScamMessages.ts";
import { loadModel } from "../../src/model/loadModel.ts";
import { obtainCommittedWeights } from "../../src/model/obtainCommittedWeights.ts";
import { encryptModelWeights } from "../../src/training/encryptModelWeights.ts";
import { createWorkerSystem, type WorkerSystem } from "../helpers/createWorkerSystem.ts";

// A serving worker gets the committed model as training data is got: the encrypted weights from
// its own Helia node, the key from the DAO's keyholders (real servers over HTTP, on the real
// chain), who release it only to an authorised worker, for a committed model of an unrevoked
// run, with the kill switch off. The worker serves nothing whose hash is not the commitment.

let s: WorkerSystem;
let snapshots: ReturnType<typeof createSnapshots>;
let urls: string[];
let weights: Uint8Array;
let runId: Hex;
let manifestCid: string;
const servers: { close(): Promise<void> }[] = [];
const logger = createLogger({ level: "silent" });

async function startKeyholder(privateKey: Uint8Array, rateLimit?: KeyholderRateLimit) {
  const { app } = createKeyholderServer({
    privateKey,
    client: s.publicClient,
    chainId: s.deployment.chainId,
    policyRegistry: s.deployment.contracts.policyRegistry,
    modelCommitments: s.deployment.contracts.modelCommitments,
    confirmations: 0,
    logger,
    ...(rateLimit ? { rateLimit } : {}),
  });
  const url = await app.listen({ host: "127.0.0.1", port: 0 });
  servers.push(app);
  return url;
}

/** Approves a run for the worker and commits `stored` as its model, claiming `claimedHash`. */
async function commitModel(stored: Uint8Array, claimedHash = embeddedWeightsHash(stored)) {
  const run = keccak256(randomBytes(32));
  const expiresAt = (await s.publicClient.getBlock()).timestamp + 86_400n;
  await createGovernance(s).pass([
    registryAction(s, "approveTrainingRun", [
      run,
      keccak256(toHex("spec")),
      s.accounts.worker.account.address,
      expiresAt,
    ]),
  ]);
  const [id, members, publicKeys, threshold] = await s.publicClient.readContract({
    address: s.deployment.contracts.policyRegistry,
    abi: policyRegistryAbi,
    functionName: "committee",
  });
  const encrypted = await encryptModelWeights({
    runId: run,
    weights: stored,
    weightsHash: claimedHash,
    trainingSetHash: keccak256(toHex("training set")),
    committee: { id, members, publicKeys, threshold },
    store: s.worker.store,
  });
  await s.wait(
    await s.accounts.worker.writeContract({
      address: s.deployment.contracts.modelCommitments,
      abi: modelCommitmentsAbi,
      functionName: "commitModel",
      args: [
        run,
        claimedHash,
        keccak256(toHex("training set")),
        encrypted.uri,
        { root: keccak256(toHex("contributions")), totalWeight: 1n, uri: "ipfs://contributions" },
      ],
    }),
  );
  return { run, manifestCid: encrypted.manifestCid };
}

beforeAll(async () => {
  s = await createWorkerSystem();
  weights = encodeEmbeddedWeights(
    trainEmbeddedModel(generateScamMessages({ seed: 7, count: 400 }), { dimensions: 256 }),
  );
  ({ run: runId, manifestCid } = await commitModel(weights));
  urls = await Promise.all(s.keyholderKeys.map((key) => startKeyholder(key.privateKey)));
  snapshots = createSnapshots(s.testClient);
  await snapshots.save();
});
beforeEach(async () => {
  await snapshots.restore();
});
afterAll(async () => {
  for (const server of servers) await server.close();
  await s?.close();
});

const obtain = (options: { run?: Hex; worker?: Wallet; keyholders?: KeyholderClient[] } = {}) =>
  obtainCommittedWeights({
    runId: options.run ?? runId,
    client: s.publicClient,
    modelCommitments: s.deployment.contracts.modelCommitments,
    policyRegistry: s.deployment.contracts.policyRegistry,
    chainId: s.deployment.chainId,
    store: s.worker.store,
    keyholders: options.keyholders ?? urls.map((url) => createKeyholderClient({ url })),
    worker: options.worker ?? s.accounts.worker,
  });

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: { code?: string }) => error.code,
  );

/** A ModelKeyRequest signed by `signer`, posted to the first keyholder as any client would. */
async function postModelKeyRequest(signer: Wallet, manifest = manifestCid) {
  const keyholder = toHex(s.keyholderKeys[0]!.publicKey);
  const message = {
    runId,
    manifest,
    keyholder,
    ephemeralPublicKey: toHex(generateKeyholderKeyPair().publicKey),
    issuedAt: BigInt(Math.floor(Date.now() / 1000)),
  };
  const signature = await signer.signTypedData({
    account: signer.account,
    domain: keyholderDomain(s.deployment.chainId, s.deployment.contracts.policyRegistry),
    types: modelKeyRequestTypes,
    primaryType: "ModelKeyRequest",
    message,
  });
  const response = await fetch(`${urls[0]}/v1/model-keys`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ...message, issuedAt: Number(message.issuedAt), signature }),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

describe("a serving worker's model, released like data", () => {
  it("a worker obtains and serves the committed model through real keyholders and Helia", async () => {
    const dir = s.dataDir;
    await writeFile(path.join(dir, "deployment-for-model.json"), JSON.stringify(s.deployment));
    const model = await loadModel({
      env: { WORKER_MODEL_RUN_ID: runId, WORKER_MODEL_KEYHOLDERS: urls.join(",") },
      rpcUrl: "http://127.0.0.1:1",
      deploymentManifest: path.join(dir, "deployment-for-model.json"),
      publicClient: s.publicClient,
      store: s.worker.store,
      walletClient: s.accounts.worker,
    });
    expect(model?.id).toBe(embeddedWeightsHash(weights));
    expect((await model!.classify("URGENT: verify your wallet seed phrase to claim your prize")).label).toMatch(
      /^(legit|scam)$/,
    );
    // One keyholder down: the threshold (two of three) still opens the key.
    expect(
      embeddedWeightsHash(await obtain({ keyholders: urls.slice(1).map((url) => createKeyholderClient({ url })) })),
    ).toBe(embeddedWeightsHash(weights));
  });

  it("a worker given a run without keyholders, or keyholders and a weights file, does not start", async () => {
    const load = (env: Record<string, string>) =>
      refusal(
        loadModel({
          env,
          rpcUrl: "http://127.0.0.1:1",
          deploymentManifest: "unused.json",
          publicClient: s.publicClient,
          store: s.worker.store,
          walletClient: s.accounts.worker,
        }),
      );
    expect(await load({ WORKER_MODEL_RUN_ID: runId })).toBe("CONFIG_INVALID");
    expect(
      await load({ WORKER_MODEL_RUN_ID: runId, WORKER_MODEL_KEYHOLDERS: urls[0]!, WORKER_MODEL_WEIGHTS: "w.json" }),
    ).toBe("CONFIG_INVALID");
  });

  it("a stranger cannot obtain a model's weights key", async () => {
    expect(await refusal(obtain({ worker: s.accounts.outsider }))).toBe("MODEL_KEY_NOT_AUTHORISED");
    const answer = await postModelKeyRequest(s.accounts.outsider);
    expect(answer.status).toBe(403);
    expect(answer.json.code).toBe("MODEL_KEY_NOT_AUTHORISED");
    expect(answer.json).not.toHaveProperty("wrappedShare");
    // A worker the DAO removes gets nothing more either.
    await createGovernance(s).pass([registryAction(s, "setWorker", [s.accounts.worker.account.address, false])]);
    expect(await refusal(obtain())).toBe("MODEL_KEY_NOT_AUTHORISED");
  });

  it("keyholders refuse the weights key while the kill switch is engaged", async () => {
    await s.wait(
      await s.accounts.guardian.writeContract({
        address: s.deployment.contracts.policyRegistry,
        abi: policyRegistryAbi,
        functionName: "engageKillSwitch",
        args: ["incident"],
      }),
    );
    expect(await refusal(obtain())).toBe("KILL_SWITCH_ENGAGED");
    expect((await postModelKeyRequest(s.accounts.worker)).json.code).toBe("KILL_SWITCH_ENGAGED");
  });

  it("keyholders refuse the weights key of a revoked run", async () => {
    await createGovernance(s).pass([registryAction(s, "revokeTrainingRun", [runId])]);
    expect(await refusal(obtain())).toBe("TRAINING_RUN_REVOKED");
  });

  it("keyholders refuse the weights key of a run with no commitment, or of a manifest other than the committed one", async () => {
    expect(await refusal(obtain({ run: keccak256(toHex("never committed")) }))).toBe("MODEL_NOT_COMMITTED");
    const other = await commitModel(weights);
    const answer = await postModelKeyRequest(s.accounts.worker, other.manifestCid);
    expect(answer.status).toBe(404);
    expect(answer.json.code).toBe("MODEL_NOT_COMMITTED");
  });

  it("a worker refuses weights whose hash is not the commitment", async () => {
    // An operator commits the hash of the trained weights but encrypts other weights under it:
    // the keyholders cannot tell (they never decrypt), the serving worker must.
    const other = encodeEmbeddedWeights(
      trainEmbeddedModel(generateScamMessages({ seed: 8, count: 50 }), { dimensions: 64 }),
    );
    const { run } = await commitModel(other, embeddedWeightsHash(weights));
    expect(await refusal(obtain({ run }))).toBe("WEIGHTS_MISMATCH");
  });

  it("the weights-key route has the share route's per-peer limit", async () => {
    const url = await startKeyholder(s.keyholderKeys[0]!.privateKey, { sharesPerMinute: 2, specsPerMinute: 2 });
    const post = () =>
      fetch(`${url}/v1/model-keys`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect((await post()).status).toBe(400);
    expect((await post()).status).toBe(400);
    const limited = await post();
    expect(limited.status).toBe(429);
    expect(((await limited.json()) as { code: string }).code).toBe("RATE_LIMITED");
  });
});
