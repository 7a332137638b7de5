import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getAddress, toHex, type Hex } from "viem";
import { contributorRewardsAbi, modelCommitmentsAbi } from "../../../deployments/abis.ts";
import { createGovernance, registryAction } from "../../../test/helpers/governance.ts";
import { createSnapshots } from "../../../test/helpers/snapshots.ts";
import { combineKeyShares } from "../../src/crypto/combineKeyShares.ts";
import { decryptStream } from "../../src/crypto/decryptStream.ts";
import { computeCid } from "../../src/storage/computeCid.ts";
import { unwrapKeyShare, wrapKeyShare } from "../../src/crypto/wrapKeyShare.ts";
import { shareReleaseContext } from "../../src/keyholder/shareRequest.ts";
import {
  createEmbeddedModel,
  decodeEmbeddedWeights,
  encodeEmbeddedWeights,
} from "../../src/model/createEmbeddedModel.ts";
import { generateScamMessages, LEGIT_LABEL, SCAM_LABEL } from "../../src/model/generateScamMessages.ts";
import { buildRunSpec, listRecordedManifests } from "../../src/training/buildRunSpec.ts";
import { parseContributionsTree } from "../../src/training/contributionsTree.ts";
import type { ModelManifest } from "../../src/training/encryptModelWeights.ts";
import { revealModel } from "../../src/training/revealModel.ts";
import { encodeRunSpec, RUN_SPEC_FORMAT, runSpecHash } from "../../src/training/runSpec.ts";
import { hashTrainingSet, runTraining, type TrainingReport } from "../../src/training/runTraining.ts";
import { verifyRevealedModel } from "../../src/training/verifyRevealedModel.ts";
import { collect, hexBytes } from "../helpers/submissions.ts";
import { createTrainingSystem, type Submitted, type TrainingSystem } from "./createTrainingSystem.ts";
import { serveChainOverHttp } from "./serveChainOverHttp.ts";

// A training run end to end on the real chain, the worker's Helia node and three keyholders over
// HTTP: honest submissions of demo data, one poisoned (its stored ciphertext holds label-flipped
// records, not the attested data) and one that is not JSON Lines.

const REVEAL_DELAY = 600; // createSystem's setting
const DIMENSIONS = 1024;

let t: TrainingSystem;
let snapshots: ReturnType<typeof createSnapshots>;
let honest: Submitted[];
let poisoned: Submitted;
let garbage: Submitted;
let spec: Uint8Array;
let runId: Hex;
let report: TrainingReport;

const sha256 = (bytes: Uint8Array): Hex => `0x${createHash("sha256").update(bytes).digest("hex")}`;

function train(overrides: Partial<Parameters<typeof runTraining>[0]> = {}) {
  return runTraining({
    runId,
    spec,
    publicClient: t.publicClient,
    walletClient: t.accounts.worker,
    chainId: t.deployment.chainId,
    contracts: t.contracts,
    store: t.s.worker.store,
    keyholders: t.keyholders,
    ...overrides,
  });
}

function commitmentOf(run: Hex) {
  return t.publicClient.readContract({
    address: t.contracts.modelCommitments,
    abi: modelCommitmentsAbi,
    functionName: "commitmentOf",
    args: [run],
  });
}

beforeAll(async () => {
  t = await createTrainingSystem();
  const records = generateScamMessages({ seed: 1, count: 1500 });
  honest = [];
  for (let i = 0; i < 5; i++) honest.push(await t.submitRecords(records.slice(i * 300, (i + 1) * 300)));
  // The attested data is honest; the ciphertext stored for it holds the same messages with
  // every label flipped, as a label-flipping poisoner would slip in.
  const attested = generateScamMessages({ seed: 11, count: 300 });
  const flipped = attested.map((r) => ({ ...r, label: r.label === SCAM_LABEL ? LEGIT_LABEL : SCAM_LABEL }));
  poisoned = await t.poison(
    await t.submitRecords(attested),
    new TextEncoder().encode(flipped.map((r) => JSON.stringify(r)).join("\n")),
  );
  // Ingest refuses such data (DATA_LINE_MALFORMED); training refuses it again if a worker that
  // skipped that check recorded it.
  garbage = await t.recordUnvalidated(new TextEncoder().encode("this is not JSON Lines\n"), honest[0]!);
  spec = encodeRunSpec({
    format: RUN_SPEC_FORMAT,
    chainId: t.deployment.chainId,
    contributorRewards: t.contracts.contributorRewards,
    model: { kind: "embedded", dimensions: DIMENSIONS, ngrams: 2 },
    submissions: [...honest, poisoned, garbage].map(({ manifest, dataHash }) => ({ manifest, dataHash })),
  });
  runId = await t.approveRun(runSpecHash(spec));
  snapshots = createSnapshots(t.testClient);
  await snapshots.save();
}, 120_000);
afterAll(async () => {
  await t?.closeAll();
});

describe("runTraining", () => {
  it("refuses to start under the kill switch, for an unapproved run, another operator or another spec", async () => {
    await snapshots.restore();
    await t.engageKillSwitch();
    await expect(train()).rejects.toMatchObject({ code: "KILL_SWITCH_ENGAGED" });
    await snapshots.restore();
    await expect(train({ runId: toHex(randomBytes(32)) })).rejects.toMatchObject({ code: "TRAINING_RUN_NOT_APPROVED" });
    await expect(train({ walletClient: t.accounts.outsider })).rejects.toMatchObject({ code: "NOT_RUN_OPERATOR" });
    const other = encodeRunSpec({ ...JSON.parse(new TextDecoder().decode(spec)), submissions: [honest[0]!] });
    await expect(train({ spec: other })).rejects.toMatchObject({ code: "RUN_SPEC_MISMATCH" });
  });

  it("with fewer than k keyholders reachable, no submission can be decrypted and nothing is committed", async () => {
    await snapshots.restore();
    const error = await train({ keyholders: [t.keyholders[0]!] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "TRAINING_DATA_INVALID" });
    const excluded = (error as { extra: { excluded: { code: string }[] } }).extra.excluded;
    expect(excluded.map((e) => e.code)).toEqual(Array(7).fill("KEY_SHARES_INSUFFICIENT"));
    expect((await commitmentOf(runId)).committedAt).toBe(0n);
  });

  it("stops, committing nothing, when the kill switch is engaged in the middle of a run", async () => {
    await snapshots.restore();
    let released = 0;
    // The guardian pulls the switch after the keyholders have released a few shares.
    const watched = t.keyholders.map((keyholder) => ({
      ...keyholder,
      name: keyholder.name,
      publicKey: () => keyholder.publicKey(),
      putSpec: (run: Hex, document: Uint8Array) => keyholder.putSpec(run, document),
      async releaseShare(request: Parameters<typeof keyholder.releaseShare>[0]) {
        if (++released === 4) await t.engageKillSwitch("mid-run");
        return keyholder.releaseShare(request);
      },
    }));
    await expect(train({ keyholders: watched, concurrency: 1 })).rejects.toMatchObject({ code: "KILL_SWITCH_ENGAGED" });
    expect((await commitmentOf(runId)).committedAt).toBe(0n);
    await snapshots.restore();
  });

  it("a keyholder that releases wrong shares cannot keep data out while k honest ones answer", async () => {
    await snapshots.restore();
    const liar = t.keyholders[0]!;
    const honestKeyholders = t.keyholders.slice(1);
    const lying = {
      ...liar,
      name: liar.name,
      publicKey: () => liar.publicKey(),
      putSpec: (run: Hex, document: Uint8Array) => liar.putSpec(run, document),
      async releaseShare(request: Parameters<typeof liar.releaseShare>[0]) {
        const release = await liar.releaseShare(request);
        const garbage = wrapKeyShare(randomBytes(33), {
          recipientPublicKey: hexBytes(request.ephemeralPublicKey),
          context: shareReleaseContext(request),
        });
        return { ...release, wrappedShare: toHex(garbage) };
      },
    };
    const lied = await train({ keyholders: [lying, ...honestKeyholders] });
    expect(lied.included.map((e) => e.manifest).sort()).toEqual(honest.map((h) => h.manifest).sort());
    expect(lied.excluded.map((e) => e.code).sort()).toEqual(["PLAINTEXT_HASH_MISMATCH", "TRAINING_DATA_INVALID"]);
    await snapshots.restore();
  });

  it("excludes and reports the poisoned and the malformed submission, trains on the rest, commits the hashes", async () => {
    await snapshots.restore();
    report = await train();
    expect(
      report.excluded.map(({ manifest, code }) => ({ manifest, code })).sort((a, b) => a.code.localeCompare(b.code)),
    ).toEqual([
      { manifest: poisoned.manifest, code: "PLAINTEXT_HASH_MISMATCH" },
      { manifest: garbage.manifest, code: "TRAINING_DATA_INVALID" },
    ]);
    expect(report.included.map((e) => e.manifest).sort()).toEqual(honest.map((h) => h.manifest).sort());
    expect(report.examples).toBe(1500);
    expect(report.labels).toEqual(["legit", "scam"]);

    const commitment = await commitmentOf(runId);
    expect(commitment.weightsHash).toBe(report.weightsHash);
    expect(commitment.weightsHash).toBe(sha256(report.weights));
    expect(commitment.trainingSetHash).toBe(hashTrainingSet(honest.map((h) => h.dataHash)));
    expect(commitment.encryptedWeightsURI).toBe(report.encryptedWeightsUri);
    expect(getAddress(commitment.operator)).toBe(getAddress(t.accounts.worker.account.address));

    // The contributions it learned from, committed for its fees to go to them: the honest
    // submissions only, each with its contributor and weight as recorded, in a tree whose dump is
    // on IPFS and gives proofs the contract accepts.
    expect(commitment.contributionsRoot).toBe(report.contributions.root);
    expect(commitment.contributionsURI).toBe(report.contributions.uri);
    const dump = await collect(t.s.worker.store.get(commitment.contributionsURI.replace("ipfs://", "")));
    const tree = parseContributionsTree(dump, {
      root: commitment.contributionsRoot,
      totalWeight: commitment.totalWeight,
    });
    const recorded = await Promise.all(
      honest.map((h) =>
        t.publicClient.readContract({
          address: t.contracts.contributorRewards,
          abi: contributorRewardsAbi,
          functionName: "contributionOf",
          args: [h.dataHash],
        }),
      ),
    );
    expect(tree.leaves.map((l) => l.dataHash).sort()).toEqual(honest.map((h) => h.dataHash.toLowerCase()).sort());
    honest.forEach((h, i) =>
      expect(tree.proofOf(h.dataHash)).toMatchObject({
        contributor: getAddress(recorded[i]!.contributor),
        weight: recorded[i]!.weight,
      }),
    );
    expect(commitment.totalWeight).toBe(recorded.reduce((sum, c) => sum + c.weight, 0n));
    expect(tree.proofOf(poisoned.dataHash)).toBeUndefined();

    // The weights are the embedded model's, trained on the honest data only: it has learnt.
    const model = createEmbeddedModel({ weights: report.weights });
    expect(model.id).toBe(report.weightsHash);
    const heldOut = generateScamMessages({ seed: 2, count: 400 });
    let correct = 0;
    for (const r of heldOut) if ((await model.classify(r.text)).label === r.label) correct++;
    expect(correct / heldOut.length).toBeGreaterThan(0.9);
  });

  it("stores the weights encrypted to the committee: k of the keyholders' keys open them, and only to the committed bytes", async () => {
    const cid = report.encryptedWeightsUri.replace("ipfs://", "");
    const manifest = JSON.parse(new TextDecoder().decode(await collect(t.s.worker.store.get(cid)))) as ModelManifest;
    expect(manifest).toMatchObject({ runId, weightsHash: report.weightsHash, committee: { id: "1", threshold: 2 } });
    const context = hexBytes(manifest.associatedData);
    const shares = [0, 2].map((i) =>
      unwrapKeyShare(hexBytes(manifest.committee.shares[i]!.wrappedShare), {
        privateKey: t.s.keyholderKeys[i]!.privateKey,
        context,
      }),
    );
    const weights = await collect(
      decryptStream(t.s.worker.store.get(manifest.ciphertext), {
        key: await combineKeyShares(shares),
        associatedData: context,
      }),
    );
    expect(sha256(weights)).toBe(report.weightsHash);
    // The ciphertext is not the weights in clear.
    const ciphertext = await collect(t.s.worker.store.get(manifest.ciphertext));
    expect(Buffer.from(ciphertext).includes(Buffer.from(weights.subarray(0, 64)))).toBe(false);
  });

  it("still trains on version 1 manifests (stored before v2), checking the ciphertext hash they carry", async () => {
    // The run committed above stays for the tests of its reveal below: this one reverts only itself.
    const before = await t.testClient.snapshot();
    // What the worker wrote before version 2: the same manifest plus the ciphertext's SHA-256.
    async function asVersion1(submitted: Submitted, ciphertextSha256?: Hex): Promise<Submitted> {
      const manifest = await t.readManifest(submitted.manifest);
      expect(manifest.version).toBe(2);
      expect(manifest).not.toHaveProperty("ciphertextSha256");
      const stored = await t.s.worker.store.put([
        new TextEncoder().encode(
          JSON.stringify({
            ...manifest,
            version: 1,
            ciphertextSha256: ciphertextSha256 ?? sha256(await collect(t.s.worker.store.get(manifest.ciphertext))),
          }),
        ),
      ]);
      return { ...submitted, manifest: stored.cid.toString() };
    }
    const intact = await asVersion1(honest[0]!);
    const wrongHash = await asVersion1(honest[1]!, toHex(randomBytes(32)));
    const oldSpec = encodeRunSpec({
      format: RUN_SPEC_FORMAT,
      chainId: t.deployment.chainId,
      contributorRewards: t.contracts.contributorRewards,
      model: { kind: "embedded", dimensions: DIMENSIONS, ngrams: 2 },
      submissions: [intact, wrongHash, honest[2]!].map(({ manifest, dataHash }) => ({ manifest, dataHash })),
    });
    const oldRun = await t.approveRun(runSpecHash(oldSpec));
    const trained = await train({ runId: oldRun, spec: oldSpec });
    expect(trained.included.map((e) => e.manifest).sort()).toEqual([intact.manifest, honest[2]!.manifest].sort());
    expect(trained.excluded.map(({ manifest, code }) => ({ manifest, code }))).toEqual([
      { manifest: wrongHash.manifest, code: "CONTENT_INTEGRITY_FAILED" },
    ]);
    expect(trained.examples).toBe(600);
    await t.testClient.revert({ id: before });
  });

  it("builds a spec from the worker's recorded submissions, for governance to approve", async () => {
    const manifests = await listRecordedManifests({
      publicClient: t.publicClient,
      contributorRewards: t.contracts.contributorRewards,
      journal: t.s.worker.journal,
      fromBlock: BigInt(t.deployment.deploymentBlock),
    });
    const built = await buildRunSpec({
      publicClient: t.publicClient,
      chainId: t.deployment.chainId,
      contributorRewards: t.contracts.contributorRewards,
      store: t.s.worker.store,
      manifests: [...manifests, poisoned.manifest],
    });
    // The honest manifests are listed (the malformed data was recorded around this worker's
    // ingest, so its journal has none for it); the poisoned one names a recorded data hash, but
    // another manifest of that data is already listed, so it is skipped.
    expect(built.spec.submissions).toHaveLength(6);
    expect(built.spec.submissions.map((e) => e.manifest)).not.toContain(poisoned.manifest);
    expect(built.skipped).toEqual([{ manifest: poisoned.manifest, reason: expect.stringContaining("same data") }]);
    expect(built.specHash).toBe(runSpecHash(built.document));
  });

  // Issue 19: a vote voids a poisoned contribution so it is never paid; nor is it trained on.
  it("a contribution voided by a vote is left out of the run specs built after", async () => {
    const before = await t.testClient.snapshot();
    try {
      const [voided] = honest;
      await createGovernance(t.s).pass([
        {
          target: t.contracts.contributorRewards,
          abi: contributorRewardsAbi,
          functionName: "voidContribution",
          args: [voided!.dataHash],
        },
      ]);
      const manifests = await listRecordedManifests({
        publicClient: t.publicClient,
        contributorRewards: t.contracts.contributorRewards,
        journal: t.s.worker.journal,
        fromBlock: BigInt(t.deployment.deploymentBlock),
      });
      const built = await buildRunSpec({
        publicClient: t.publicClient,
        chainId: t.deployment.chainId,
        contributorRewards: t.contracts.contributorRewards,
        store: t.s.worker.store,
        manifests,
      });
      expect(built.spec.submissions.map((e) => e.dataHash)).not.toContain(voided!.dataHash.toLowerCase());
      expect(built.skipped).toEqual([{ manifest: voided!.manifest, reason: "a vote voided its contribution" }]);
    } finally {
      await t.testClient.revert({ id: before });
    }
  });
});

describe("delayed publication", () => {
  // Issue 19: the reveal used to publish the plaintext weights on IPFS and only then ask the
  // contract, which could refuse: the weights were out, with no reveal on chain.
  it("a reveal the contract refuses publishes nothing (kill switch engaged, run revoked)", async () => {
    const reveal = () =>
      revealModel({
        runId,
        weights: report.weights,
        publicClient: t.publicClient,
        walletClient: t.accounts.worker,
        modelCommitments: t.contracts.modelCommitments,
        store: t.s.worker.store,
      });
    const weightsCid = await computeCid([report.weights]);
    const before = await t.testClient.snapshot();
    await t.testClient.increaseTime({ seconds: REVEAL_DELAY + 1 });
    await t.testClient.mine({ blocks: 1 });
    try {
      const afterDelay = await t.testClient.snapshot();
      await t.engageKillSwitch("the model leaks its training data");
      await expect(reveal()).rejects.toMatchObject({ code: "KILL_SWITCH_ENGAGED" });
      expect(await t.s.worker.store.has(weightsCid)).toBe(false);

      await t.testClient.revert({ id: afterDelay });
      await createGovernance(t.s).pass([registryAction(t.s, "revokeTrainingRun", [runId])]);
      await expect(reveal()).rejects.toMatchObject({
        code: "TRAINING_RUN_NOT_APPROVED",
        extra: { contractError: "ModelRunRevoked" },
      });
      expect(await t.s.worker.store.has(weightsCid)).toBe(false);
      expect((await commitmentOf(runId)).revealedURI).toBe("");
    } finally {
      // The run stays committed and unrevealed for the tests below.
      await t.testClient.revert({ id: before });
    }
  });

  it("reveals only after the delay; the committed hash matches the revealed weights", async () => {
    const reveal = (weights: Uint8Array) =>
      revealModel({
        runId,
        weights,
        publicClient: t.publicClient,
        walletClient: t.accounts.worker,
        modelCommitments: t.contracts.modelCommitments,
        store: t.s.worker.store,
      });
    await expect(reveal(report.weights)).rejects.toMatchObject({ code: "REVEAL_TOO_EARLY" });
    await t.testClient.increaseTime({ seconds: REVEAL_DELAY + 1 });
    await t.testClient.mine({ blocks: 1 });
    const tampered = encodeEmbeddedWeights({ ...decodeEmbeddedWeights(report.weights), examples: 1 });
    await expect(reveal(tampered)).rejects.toMatchObject({ code: "WEIGHTS_MISMATCH" });
    const { uri } = await reveal(report.weights);
    expect((await commitmentOf(runId)).revealedURI).toBe(uri);

    const verified = await verifyRevealedModel({
      runId,
      publicClient: t.publicClient,
      modelCommitments: t.contracts.modelCommitments,
      fetchRevealed: async (revealed) => collect(t.s.worker.store.get(revealed.replace("ipfs://", ""))),
    });
    expect(verified).toMatchObject({
      committedWeightsHash: report.weightsHash,
      computedWeightsHash: report.weightsHash,
      verifiedOnChain: true,
      loadable: true,
    });
  });

  describe("the verify-model command, as anyone runs it (RPC and an IPFS gateway over HTTP)", () => {
    let chain: Awaited<ReturnType<typeof serveChainOverHttp>>;
    let gateway: Server;
    let rpcUrl: string;
    let gatewayUrl: string;
    const script = path.resolve(import.meta.dirname, "../../scripts/verify-model.ts");

    beforeAll(async () => {
      // JSON-RPC over HTTP in front of the in-process chain, and a read-only IPFS gateway in front
      // of the worker's node: what a member of the public would point the command at.
      chain = await serveChainOverHttp(t.connection.provider);
      rpcUrl = chain.url;
      gateway = createServer((request, response) => {
        const cid = request.url?.replace("/ipfs/", "") ?? "";
        collect(t.s.worker.store.get(cid)).then(
          (bytes) => response.writeHead(200).end(bytes),
          () => response.writeHead(404).end(),
        );
      });
      await new Promise<void>((r) => gateway.listen(0, "127.0.0.1", r));
      gatewayUrl = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await chain.close();
      gateway.closeAllConnections();
      await new Promise((r) => gateway.close(r));
    });

    const verify = (run: Hex) =>
      promisify(execFile)(process.execPath, [
        script,
        "--rpc-url",
        rpcUrl,
        "--model-commitments",
        t.contracts.modelCommitments,
        "--run-id",
        run,
        "--gateway",
        gatewayUrl,
      ]).then(
        ({ stdout }) => ({ code: 0, out: stdout }),
        (error: { code: number; stderr: string }) => ({ code: error.code, out: error.stderr }),
      );

    it("exits 0 when the revealed weights match the commitment", async () => {
      const { code, out } = await verify(runId);
      expect(out).toContain(`OK: the revealed weights of run ${runId} match`);
      expect(code).toBe(0);
    });

    it("detects a tampered reveal and exits non-zero; an unrevealed model is not verified either", async () => {
      // A second approved run whose operator commits the true weights' hash, then reveals other bytes.
      const run = await t.approveRun(runSpecHash(spec));
      await t.wait(
        await t.accounts.worker.writeContract({
          address: t.contracts.modelCommitments,
          abi: modelCommitmentsAbi,
          functionName: "commitModel",
          args: [run, report.weightsHash, report.trainingSetHash, report.encryptedWeightsUri, report.contributions],
        }),
      );
      expect(await verify(run)).toMatchObject({ code: 1, out: expect.stringContaining("NOT VERIFIED") });
      await t.testClient.increaseTime({ seconds: REVEAL_DELAY + 1 });
      await t.testClient.mine({ blocks: 1 });
      const tampered = encodeEmbeddedWeights({
        ...decodeEmbeddedWeights(report.weights),
        logPriors: decodeEmbeddedWeights(report.weights).logPriors.toReversed(),
      });
      const stored = await t.s.worker.store.put([tampered]);
      await t.wait(
        await t.accounts.worker.writeContract({
          address: t.contracts.modelCommitments,
          abi: modelCommitmentsAbi,
          functionName: "revealModel",
          args: [run, `ipfs://${stored.cid.toString()}`],
        }),
      );
      await expect(
        verifyRevealedModel({
          runId: run,
          publicClient: t.publicClient,
          modelCommitments: t.contracts.modelCommitments,
          fetchRevealed: async () => tampered,
        }),
      ).rejects.toMatchObject({ code: "WEIGHTS_MISMATCH" });
      const { code, out } = await verify(run);
      expect(out).toContain("MISMATCH: The revealed weights hash to");
      expect(code).toBe(1);
    });
  });
});

describe("governance", () => {
  it("a removed worker loses its run: keyholders refuse it from then on", async () => {
    const fresh = await t.approveRun(runSpecHash(spec));
    await createGovernance(t).pass([registryAction(t, "setWorker", [t.accounts.worker.account.address, false])]);
    await expect(train({ runId: fresh })).rejects.toMatchObject({ code: "TRAINING_RUN_NOT_APPROVED" });
  });
});
