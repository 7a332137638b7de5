import { randomBytes } from "node:crypto";
import { getAddress, keccak256, toHex, type Hex } from "viem";
import { contributorRewardsAbi } from "../../../deployments/abis.ts";
import { createGovernance, registryAction } from "../../../test/helpers/governance.ts";
import type { Wallet } from "../../../test/helpers/system.ts";
import { encryptStream } from "../../src/crypto/encryptStream.ts";
import { generateDataKey } from "../../src/crypto/generateDataKey.ts";
import { splitDataKey } from "../../src/crypto/splitDataKey.ts";
import { wrapKeyShare } from "../../src/crypto/wrapKeyShare.ts";
import { createLogger } from "../../src/internal/createLogger.ts";
import { createKeyholderClient, type KeyholderClient } from "../../src/keyholder/createKeyholderClient.ts";
import { createKeyholderServer } from "../../src/keyholder/createKeyholderServer.ts";
import type { KeyholderRateLimit } from "../../src/keyholder/registerKeyholderRoutes.ts";
import { contributionInput } from "../../src/ingest/createContributionRecorder.ts";
import { submissionAssociatedData, submissionId } from "../../src/ingest/createSubmissionService.ts";
import { formatTrainingRecords, type TrainingRecord } from "../../src/model/trainingRecords.ts";
import { parseSubmissionManifest, type SubmissionManifest } from "../../src/training/submissionManifest.ts";
import { createWorkerSystem, type WorkerSystem } from "../helpers/createWorkerSystem.ts";
import { collect, createSubmitter, hexBytes } from "../helpers/submissions.ts";

export type Submitted = { manifest: string; dataHash: Hex; id: string };

/**
 * The whole system for training tests: chain, worker (submissions stored on its Helia node and
 * recorded on chain), and the committee's three keyholders (threshold two), each behind its own
 * HTTP server on a local port, all with real keys.
 */
export async function createTrainingSystem(parameters: { keyholderRateLimit?: KeyholderRateLimit } = {}) {
  const s: WorkerSystem = await createWorkerSystem({ maxPayloadBytes: 4 * 1024 * 1024 });
  const submitter = createSubmitter(s);
  const logger = createLogger({ level: "silent" });
  const servers: { close(): Promise<void> }[] = [];

  /** Starts a keyholder for one private key; returns a client of its HTTP API. */
  async function startKeyholder(
    privateKey: Uint8Array,
    options: { maxHeadAgeSeconds?: number; now?: () => number } = {},
  ): Promise<KeyholderClient & { url: string }> {
    const { app } = createKeyholderServer({
      privateKey,
      client: s.publicClient,
      chainId: s.deployment.chainId,
      policyRegistry: s.deployment.contracts.policyRegistry,
      contributorRewards: s.deployment.contracts.contributorRewards,
      confirmations: 0,
      logger,
      rateLimit: parameters.keyholderRateLimit,
      ...options,
    });
    const url = await app.listen({ host: "127.0.0.1", port: 0 });
    servers.push(app);
    // As the run's operator (the worker) uses it: spec uploads are signed by the operator.
    return Object.assign(
      createKeyholderClient({ url, operator: s.accounts.worker, ...(options.now ? { now: options.now } : {}) }),
      { url },
    );
  }
  const keyholders = await Promise.all(s.keyholderKeys.map((key) => startKeyholder(key.privateKey)));

  /** Submits bytes through the worker's API as the contributor, and records them on chain. */
  async function submitData(data: Uint8Array, contributor?: Wallet): Promise<Submitted> {
    const { envelope } = await submitter.prepare({ data, ...(contributor ? { contributor } : {}) });
    const begun = await submitter.post(envelope);
    if (begun.status !== 201) throw new Error(`submission refused: ${JSON.stringify(begun.json)}`);
    const id = begun.json.id as string;
    const stored = await submitter.put(id, data);
    if (stored.status !== 202) throw new Error(`upload refused: ${JSON.stringify(stored.json)}`);
    await s.worker.flush();
    const status = (await (await fetch(`${s.url}/v1/submissions/${id}`)).json()) as Record<string, string>;
    if (status.state !== "recorded") throw new Error(`submission not recorded: ${JSON.stringify(status)}`);
    return { manifest: status.manifestCid!, dataHash: envelope.dataHash, id };
  }

  const submitRecords = (records: readonly TrainingRecord[]) =>
    submitData(new TextEncoder().encode(formatTrainingRecords(records)));

  async function readManifest(cid: string): Promise<SubmissionManifest> {
    return parseSubmissionManifest(await collect(s.worker.store.get(cid)));
  }

  /**
   * What a dishonest or broken ingest worker could store: a manifest that keeps an honest
   * submission's identity (contributor, attested data hash, associated data) but whose ciphertext
   * holds other bytes, with a fresh key shared to the same committee. It is self-consistent, so
   * only decrypting and hashing the plaintext shows that it is not the attested data.
   */
  async function poison(honest: Submitted, otherData: Uint8Array): Promise<Submitted> {
    const manifest = await readManifest(honest.manifest);
    const stored = await seal(manifest, otherData);
    return { manifest: stored, dataHash: honest.dataHash, id: honest.id };
  }

  /**
   * What a worker that skipped ingest's validation (an older or a dishonest one) could store and
   * record: `data` as it is, attested, sealed to the committee of `template`'s manifest and
   * recorded on chain with a weight of 1. The training run must still refuse it when it is not
   * training data.
   */
  async function recordUnvalidated(data: Uint8Array, template: Submitted): Promise<Submitted> {
    const { envelope } = await submitter.prepare({ data });
    await s.wait(
      await s.accounts.worker.writeContract({
        address: s.deployment.contracts.contributorRewards,
        abi: contributorRewardsAbi,
        functionName: "recordContributions",
        args: [[contributionInput(envelope, 1n)]],
      }),
    );
    const id = submissionId(envelope.contributor, BigInt(envelope.nonce));
    const { committee } = await readManifest(template.manifest);
    const fields = { id, contributor: envelope.contributor, dataHash: envelope.dataHash, size: envelope.size };
    const associatedData = submissionAssociatedData({ ...fields, committeeId: committee.id });
    const manifest: SubmissionManifest = {
      version: 2,
      submissionId: id,
      contributor: getAddress(envelope.contributor),
      dataHash: envelope.dataHash.toLowerCase() as Hex,
      size: envelope.size,
      ciphertext: "",
      associatedData: toHex(associatedData),
      committee,
    };
    return { manifest: await seal(manifest, data), dataHash: envelope.dataHash, id };
  }

  /** Stores `manifest` with `data` encrypted under a fresh key shared to its committee; its CID. */
  async function seal(manifest: SubmissionManifest, data: Uint8Array): Promise<string> {
    const associatedData = hexBytes(manifest.associatedData);
    const key = generateDataKey();
    const ciphertext = await s.worker.store.put(encryptStream([data], { key, associatedData }));
    const shares = await splitDataKey(key, {
      threshold: manifest.committee.threshold,
      shares: manifest.committee.shares.length,
    });
    const poisoned: SubmissionManifest = {
      ...manifest,
      ciphertext: ciphertext.cid.toString(),
      committee: {
        ...manifest.committee,
        shares: manifest.committee.shares.map((entry, i) => ({
          ...entry,
          wrappedShare: toHex(
            wrapKeyShare(shares[i]!, { recipientPublicKey: hexBytes(entry.publicKey), context: associatedData }),
          ),
        })),
      },
    };
    const stored = await s.worker.store.put([new TextEncoder().encode(JSON.stringify(poisoned))]);
    return stored.cid.toString();
  }

  /** Passes a proposal approving a run of `specHash` for `operator` (the worker by default). */
  async function approveRun(specHash: Hex, operator: Wallet = s.accounts.worker): Promise<Hex> {
    const runId = keccak256(randomBytes(32));
    const expiresAt = (await s.publicClient.getBlock()).timestamp + 30n * 86_400n;
    await createGovernance(s).pass([
      registryAction(s, "approveTrainingRun", [runId, specHash, operator.account.address, expiresAt]),
    ]);
    return runId;
  }

  async function engageKillSwitch(reason = "incident") {
    await s.wait(
      await s.accounts.guardian.writeContract({
        address: s.deployment.contracts.policyRegistry,
        abi: (await import("../../../deployments/abis.ts")).policyRegistryAbi,
        functionName: "engageKillSwitch",
        args: [reason],
      }),
    );
  }

  return {
    ...s,
    s,
    keyholders,
    startKeyholder,
    submitData,
    submitRecords,
    readManifest,
    poison,
    recordUnvalidated,
    approveRun,
    engageKillSwitch,
    contracts: s.deployment.contracts,
    async closeAll() {
      for (const server of servers) await server.close();
      await s.close();
    },
  };
}

export type TrainingSystem = Awaited<ReturnType<typeof createTrainingSystem>>;
