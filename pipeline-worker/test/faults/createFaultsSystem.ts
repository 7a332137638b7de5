import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseEventLogs, toHex, zeroAddress, type Address, type EIP1193RequestFn, type Hex } from "viem";
import { contributorRewardsAbi, usageSettlementAbi } from "../../../deployments/abis.ts";
import { registryAction } from "../../../test/helpers/governance.ts";
import { createSnapshots } from "../../../test/helpers/snapshots.ts";
import { generateKeyholderKeyPair } from "../../src/crypto/keyholderKeys.ts";
import { createWorker, type Worker } from "../../src/createWorker.ts";
import type { SignedQueryRequest } from "../../src/api/consumerWire.ts";
import { createLogger } from "../../src/internal/createLogger.ts";
import type { WorkerConfig } from "../../src/internal/loadConfig.ts";
import type { ContentStore } from "../../src/storage/ContentStore.ts";
import { createFaultyRpcProxy } from "../helpers/createFaultyRpcProxy.ts";
import type { WorkerSystem } from "../helpers/createWorkerSystem.ts";
import { createSubmitter } from "../helpers/submissions.ts";
import { createInferenceTestSystem, devPrivateKey, WORKER_ACCOUNTS } from "../inference/createInferenceTestSystem.ts";
import { createKeywordModel } from "../inference/createKeywordModel.ts";

/**
 * The whole system for fault tests: the inference test system (a worker authorised, a consumer
 * with a quota and a deposit) plus the ingest policy of createWorkerSystem (the contributor
 * allowlisted, one trusted attester needed, a committee of three keyholders), and a faulty RPC
 * proxy in front of the chain. Workers are built as `main.ts` builds them, from a configuration
 * whose `rpcUrl` is the proxy, so every chain call they make can be made to fail.
 */
export async function createFaultsSystem(options: { quota?: bigint } = {}) {
  const t = await createInferenceTestSystem({ quota: options.quota ?? 1_000n });
  const keyholderKeys = [generateKeyholderKeyPair(), generateKeyholderKeyPair(), generateKeyholderKeyPair()];
  await t.pass([
    registryAction(t, "setSubmitter", [t.accounts.contributor.account.address, true]),
    registryAction(t, "setAttestationRequirement", [
      t.deployment.dataSchema.uid,
      [t.accounts.attester.account.address, t.accounts.attester2.account.address],
      1,
      0n,
    ]),
    registryAction(t, "setCommittee", [
      t.accounts.keyholders.map((k) => k.account.address),
      keyholderKeys.map((k) => toHex(k.publicKey)),
      2,
    ]),
  ]);
  await t.clock.sync();
  const snapshots = createSnapshots(t.testClient);
  await snapshots.save();
  const provider = t.connection.provider;
  const proxy = await createFaultyRpcProxy(provider.request.bind(provider) as EIP1193RequestFn);
  const root = await mkdtemp(path.join(tmpdir(), "faults-"));
  const running = new Set<Worker>();
  let dirs = 0;

  /** The worker's configuration, as `loadConfig` would give it, against the proxy. */
  function configOf(dataDir: string, confirmations = 0): WorkerConfig {
    return {
      rpcUrl: proxy.url,
      chainId: t.deployment.chainId,
      deploymentManifest: t.manifest,
      dataDir,
      http: { host: "127.0.0.1", port: 0 },
      confirmations,
      stalenessSeconds: 600,
      maxPayloadBytes: 1024 * 1024,
      storage: { kind: "helia", kuboUrl: undefined },
      inference: {
        workerIndex: 0,
        workerCount: 1,
        maxInputLength: 256,
        settlementBatchSize: 50,
        settlementIntervalSeconds: 60,
      },
      privateKey: devPrivateKey(WORKER_ACCOUNTS[0]),
      logLevel: "silent",
    };
  }

  /** A worker against the proxy, listening; nothing is recorded or settled until the test says. */
  async function startWorker(start: { dataDir?: string; store?: ContentStore; confirmations?: number } = {}) {
    const dataDir = start.dataDir ?? path.join(root, `worker-${++dirs}`);
    const worker = await createWorker({
      config: configOf(dataDir, start.confirmations),
      logger: createLogger({ level: "silent" }),
      pollingIntervalMs: 60_000,
      autoRecord: false,
      autoSettle: false,
      model: createKeywordModel(),
      now: t.clock.now,
      ...(start.store ? { store: start.store } : {}),
    });
    const url = await worker.listen();
    // `listen` starts the polling loop, whose first poll is now under way: let it end, so that a
    // test's own `poll()` reads the chain afresh instead of joining a poll begun before its fault.
    await worker.policySync.poll().catch(() => undefined);
    running.add(worker);
    // What the submitter helper needs of a worker system.
    const submitter = createSubmitter({ ...t, url } as unknown as WorkerSystem);
    return {
      worker,
      url,
      dataDir,
      submitter,
      async close() {
        running.delete(worker);
        await worker.close();
      },
    };
  }

  /** Posts a signed query over HTTP, as a consumer does. */
  async function query(url: string, body: SignedQueryRequest) {
    const response = await fetch(`${url}/v1/queries`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> & { code?: string } };
  }

  /**
   * The lanes' running totals of this system's own signed queries. The inference test system's
   * counter lives as long as it does, while `reset` below rewinds the chain and every test starts
   * a fresh worker: its lanes start again at total 1 here, so that a test's charge is its own
   * queries, not totals left by the tests before it.
   */
  const totals = new Map<string, bigint>();
  /** Signs the consumer's next total in its lane (consumer, worker, epoch), or the `total` given. */
  async function signQuery(fields: Parameters<typeof t.signQuery>[0] = {}): Promise<SignedQueryRequest> {
    const epoch = fields.epoch ?? (await t.currentEpoch());
    const consumer = fields.consumer ?? (fields.signer ?? t.consumer).address;
    const lane = `${consumer.toLowerCase()}!${(fields.worker ?? t.workerWallets[0]!.account.address).toLowerCase()}!${epoch}`;
    const total = fields.total ?? (totals.get(lane) ?? 0n) + 1n;
    if (total > (totals.get(lane) ?? 0n)) totals.set(lane, total);
    return t.signQuery({ ...fields, epoch, total });
  }

  /** The UsageSettled events of `consumer`: one per lane settled (or settled further). */
  async function usageSettled(consumer: Address = t.consumer.address) {
    const logs = await t.publicClient.getLogs({
      address: t.deployment.contracts.usageSettlement,
      fromBlock: 0n,
      toBlock: "latest",
    });
    return parseEventLogs({ abi: usageSettlementAbi, eventName: "UsageSettled", logs }).filter(
      (log) => log.args.consumer.toLowerCase() === consumer.toLowerCase(),
    );
  }

  /** Queries of `consumer` settled on chain in all, summed over UsageSettled events (a double shows here). */
  async function settledEvents(consumer: Address = t.consumer.address): Promise<bigint> {
    return (await usageSettled(consumer)).reduce((sum, log) => sum + BigInt(log.args.queries), 0n);
  }

  /** The consumer's own lane's `settledTotal` at the first worker in `epoch`. */
  const laneSettledTotal = (epoch: bigint, consumer: Address = t.consumer.address) =>
    t.readSettlement<bigint>("settledTotal", [consumer, zeroAddress, t.workerWallets[0]!.account.address, epoch]);

  /** Whether the chain settled the query's total: its lane (at the first worker) is settled up to it or beyond. */
  const totalSettled = async (body: SignedQueryRequest) =>
    BigInt(body.total) <=
    (await t.readSettlement<bigint>("settledTotal", [
      body.consumer,
      zeroAddress,
      t.workerWallets[0]!.account.address,
      BigInt(body.epoch),
    ]));

  /** How many times the chain recorded this data (ContributionRecorded events). */
  async function timesRecorded(dataHash: Hex): Promise<number> {
    const logs = await t.publicClient.getLogs({
      address: t.deployment.contracts.contributorRewards,
      fromBlock: 0n,
      toBlock: "latest",
    });
    return parseEventLogs({ abi: contributorRewardsAbi, eventName: "ContributionRecorded", logs }).filter(
      (log) => log.args.dataHash === dataHash,
    ).length;
  }

  /** Back to the state after set-up, every worker stopped and every fault cleared. */
  async function reset() {
    proxy.clear();
    totals.clear();
    await Promise.all([...running].map((worker) => worker.close()));
    running.clear();
    await snapshots.restore();
    await t.clock.sync();
  }

  return {
    ...t,
    t,
    keyholderKeys,
    proxy,
    root,
    configOf,
    startWorker,
    query,
    signQuery,
    usageSettled,
    settledEvents,
    laneSettledTotal,
    totalSettled,
    timesRecorded,
    reset,
    async closeAll() {
      proxy.clear();
      await Promise.all([...running].map((worker) => worker.close()));
      await proxy.close();
      await t.cleanUp();
      await rm(root, { recursive: true, force: true });
    },
  };
}

export type FaultsSystem = Awaited<ReturnType<typeof createFaultsSystem>>;
