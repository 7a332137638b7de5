import { existsSync, readdirSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { toHex, type Hex } from "viem";
import { createGovernance, registryAction } from "../../../test/helpers/governance.ts";
import { createSystem, type System } from "../../../test/helpers/system.ts";
import { createWorker, type Worker } from "../../src/createWorker.ts";
import { generateKeyholderKeyPair, type KeyholderKeyPair } from "../../src/crypto/keyholderKeys.ts";
import { createLogger } from "../../src/internal/createLogger.ts";
import type { WorkerConfig } from "../../src/internal/loadConfig.ts";

export type WorkerSystem = System & {
  worker: Worker;
  /** The worker's base URL. */
  url: string;
  keyholderKeys: KeyholderKeyPair[];
  dataDir: string;
  /** How many blocks the worker's embedded IPFS store holds on disk: what a refused upload must not add to. */
  storedBlocks(): number;
  /** Stops the worker without flushing anything, as a crash would, and starts a new one on the same data. */
  restart(): Promise<void>;
  /** Stops the worker and keeps its data directory, so a test can work on it before `start`. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
};

/**
 * The whole system on Hardhat's in-process chain with a worker in front of it, after governance
 * passed a first policy: the worker authorised, the contributor allowlisted, an attestation
 * requirement (one of two trusted attesters), and a committee of three keyholders, threshold two.
 */
export async function createWorkerSystem(
  options: {
    maxPayloadBytes?: number;
    autoRecord?: boolean;
    bodyIdleTimeoutMs?: number;
    maxConcurrentUploads?: number;
  } = {},
): Promise<WorkerSystem> {
  const system = await createSystem();
  await system.delegateAll();
  const { accounts, deployment } = system;
  const keyholderKeys = [generateKeyholderKeyPair(), generateKeyholderKeyPair(), generateKeyholderKeyPair()];
  await createGovernance(system).pass([
    registryAction(system, "setWorker", [accounts.worker.account.address, true]),
    registryAction(system, "setSubmitter", [accounts.contributor.account.address, true]),
    registryAction(system, "setAttestationRequirement", [
      deployment.dataSchema.uid,
      [accounts.attester.account.address, accounts.attester2.account.address],
      1,
      0n,
    ]),
    registryAction(system, "setCommittee", [
      accounts.keyholders.map((k) => k.account.address),
      keyholderKeys.map((k) => toHex(k.publicKey)),
      2,
    ]),
  ]);

  const dataDir = await mkdtemp(path.join(tmpdir(), "worker-"));
  const manifest = path.join(dataDir, "deployment.json");
  await writeFile(manifest, JSON.stringify(deployment));
  const config: WorkerConfig = {
    rpcUrl: "http://127.0.0.1:1",
    chainId: deployment.chainId,
    deploymentManifest: manifest,
    dataDir,
    http: { host: "127.0.0.1", port: 0, bodyIdleTimeoutMs: options.bodyIdleTimeoutMs },
    confirmations: 0,
    stalenessSeconds: 3600,
    maxPayloadBytes: options.maxPayloadBytes ?? 8 * 1024 * 1024,
    ...(options.maxConcurrentUploads === undefined ? {} : { maxConcurrentUploads: options.maxConcurrentUploads }),
    storage: { kind: "helia", kuboUrl: undefined },
    privateKey: `0x${"11".repeat(32)}` as Hex,
    logLevel: "silent",
  };
  const start = async () => {
    const worker = await createWorker({
      config,
      logger: createLogger({ level: "silent" }),
      publicClient: system.publicClient,
      walletClient: accounts.worker,
      pollingIntervalMs: 60_000,
      autoRecord: options.autoRecord ?? false,
    });
    return { worker, url: await worker.listen() };
  };
  const self: WorkerSystem = {
    ...system,
    ...(await start()),
    keyholderKeys,
    dataDir,
    storedBlocks() {
      const directory = path.join(dataDir, "ipfs", "blocks");
      if (!existsSync(directory)) return 0;
      return readdirSync(directory, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile()).length;
    },
    async stop() {
      await self.worker.close();
    },
    async start() {
      Object.assign(self, await start());
    },
    async restart() {
      await self.stop();
      await self.start();
    },
    async close() {
      await self.worker.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return self;
}
