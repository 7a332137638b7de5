import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  createWalletClient,
  custom,
  getAddress,
  keccak256,
  parseEther,
  toHex,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type LocalAccount,
  type PublicClient,
  type Transport,
  type WalletClient,
  zeroAddress,
} from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { hardhat } from "viem/chains";
import { contributorRewardsAbi, policyRegistryAbi, usageSettlementAbi } from "../../../deployments/abis.ts";
import { createGovernance, registryAction } from "../../../test/helpers/governance.ts";
import { createSnapshots } from "../../../test/helpers/snapshots.ts";
import { createSystem, type System } from "../../../test/helpers/system.ts";
import { signChatRequest } from "../../src/api/openAiWire.ts";
import { usageDomain, usageTypes } from "../../src/chain/typedData.ts";
import { createWorker, type Worker } from "../../src/createWorker.ts";
import type { SignedQueryRequest } from "../../src/api/consumerWire.ts";
import { createLogger } from "../../src/internal/createLogger.ts";
import type { InferenceConfig, WorkerConfig } from "../../src/internal/loadConfig.ts";
import type { Model } from "../../src/model/Model.ts";
import { createKeywordModel } from "./createKeywordModel.ts";

type Wallet = WalletClient<Transport, Chain, Account>;

/** Hardhat's development accounts come from this mnemonic; tests sign queries with their keys locally. */
export const DEV_MNEMONIC = "test test test test test test test test test test test junk";
export const devAccount = (index: number) => mnemonicToAccount(DEV_MNEMONIC, { addressIndex: index });
export const devPrivateKey = (index: number): Hex => toHex(devAccount(index).getHdKey().privateKey!);

/** Development account indexes of the workers: the system's `worker` first, then spare accounts. */
export const WORKER_ACCOUNTS = [8, 14, 15, 16] as const;

export const QUOTA = 5n;
export const FEE = parseEther("0.001");
export const DEPOSIT = parseEther("1");

/**
 * The worker's clock follows the chain's: tests move the chain's time (`increaseTime`) to reach the
 * next epoch, and the worker must see the epoch the contracts see.
 */
export function createChainClock(publicClient: PublicClient) {
  let offsetMs = 0;
  return {
    now: () => Date.now() + offsetMs,
    get offsetMs() {
      return offsetMs;
    },
    async sync() {
      const block = await publicClient.getBlock({ blockTag: "latest", cacheTime: 0 } as never);
      offsetMs = Number(block.timestamp) * 1000 - Date.now();
    },
  };
}

export type InferenceTestWorker = {
  worker: Worker;
  dataDir: string;
  address: Address;
  /** Stops it (what it counted stays on disk) and starts a new one on the same data directory. */
  restart(): Promise<InferenceTestWorker>;
  close(): Promise<void>;
};

export type StartWorkerOptions = {
  index?: number;
  count?: number;
  model?: Model;
  /** Which of WORKER_ACCOUNTS signs and settles. Default: the same as `index`. */
  account?: number;
  wallet?: Wallet;
  dataDir?: string;
  inference?: Partial<InferenceConfig>;
  /** Skip the first policy poll (the worker stays stale). */
  noPoll?: boolean;
};

/**
 * The system on Hardhat's in-process chain after governance authorised the workers, gave the
 * consumer (development account 7) a quota and set a query fee; the consumer has a deposit.
 * Workers are started on demand, each with its own data directory, against that one chain.
 */
export async function createInferenceTestSystem(options: { quota?: bigint; fee?: bigint; workers?: number } = {}) {
  const quota = options.quota ?? QUOTA;
  const fee = options.fee ?? FEE;
  const system: System = await createSystem();
  await system.delegateAll();
  const governance = createGovernance(system);
  // Workers sign with local keys, as in production (privateKeyToAccount), over the in-process chain.
  const workerWallets: Wallet[] = WORKER_ACCOUNTS.slice(0, options.workers ?? 1).map((i) =>
    createWalletClient({ account: devAccount(i), chain: hardhat, transport: custom(system.connection.provider) }),
  );
  const consumer = devAccount(7);
  await governance.pass([
    ...workerWallets.map((w) => registryAction(system, "setWorker", [w.account.address, true])),
    registryAction(system, "setQuota", [consumer.address, quota]),
    registryAction(system, "setQueryFee", [fee]),
  ]);
  await system.wait(
    await system.accounts.consumer.writeContract({
      address: system.deployment.contracts.usageSettlement,
      abi: usageSettlementAbi,
      functionName: "deposit",
      args: [consumer.address],
      value: DEPOSIT,
    }),
  );
  const clock = createChainClock(system.publicClient);
  await clock.sync();
  const snapshots = createSnapshots(system.testClient);
  await snapshots.save();

  const root = await mkdtemp(path.join(tmpdir(), "inference-"));
  const manifest = path.join(root, "deployment.json");
  await writeFile(manifest, JSON.stringify(system.deployment));
  const running = new Set<InferenceTestWorker>();
  let inputs = 0;
  let dirs = 0;

  async function startWorker(start: StartWorkerOptions = {}): Promise<InferenceTestWorker> {
    const index = start.index ?? 0;
    const wallet = start.wallet ?? workerWallets[start.account ?? index]!;
    const dataDir = start.dataDir ?? path.join(root, `worker-${++dirs}`);
    const model = start.model ?? createKeywordModel();
    const config: WorkerConfig = {
      rpcUrl: "http://127.0.0.1:1",
      chainId: system.deployment.chainId,
      deploymentManifest: manifest,
      dataDir,
      http: { host: "127.0.0.1", port: 0 },
      confirmations: 0,
      stalenessSeconds: 600,
      maxPayloadBytes: 1024 * 1024,
      storage: { kind: "helia", kuboUrl: undefined },
      inference: {
        workerIndex: index,
        workerCount: start.count ?? 1,
        maxInputLength: 256,
        settlementBatchSize: 50,
        settlementIntervalSeconds: 60,
        ...start.inference,
      },
      privateKey: `0x${"11".repeat(32)}`,
      logLevel: "silent",
    };
    const worker = await createWorker({
      config,
      logger: createLogger({ level: "silent" }),
      publicClient: system.publicClient,
      walletClient: wallet,
      pollingIntervalMs: 60_000,
      autoRecord: false,
      autoSettle: false,
      model,
      now: clock.now,
    });
    if (!start.noPoll) await worker.policySync.poll();
    const self: InferenceTestWorker = {
      worker,
      dataDir,
      address: getAddress(wallet.account.address),
      async restart() {
        await self.close();
        return startWorker({ ...start, model, wallet, dataDir });
      },
      async close() {
        running.delete(self);
        await worker.close();
      },
    };
    running.add(self);
    return self;
  }

  /** The totals signed so far, by lane (consumer, worker, epoch): each signature takes the next one. */
  const totals = new Map<string, bigint>();
  const nextTotal = (consumer: Address, worker: Address, epoch: bigint) => {
    const lane = `${consumer.toLowerCase()}!${worker.toLowerCase()}!${epoch}`;
    const total = (totals.get(lane) ?? 0n) + 1n;
    totals.set(lane, total);
    return total;
  };
  const firstWorker = () => getAddress(workerWallets[0]!.account.address);

  /**
   * Signs a query's Usage voucher as `signer` would, for `worker` (default: the first worker), with
   * the lane's next total; every field can be overridden to make a bad one.
   */
  async function signQuery(
    fields: {
      input?: string;
      total?: bigint;
      epoch?: bigint;
      deadline?: bigint;
      maxFeePerQuery?: bigint;
      worker?: Address;
      signer?: LocalAccount;
      consumer?: Address;
      chainId?: number;
      usageSettlement?: Address;
      /** Sign this input but send `input`. */
      signedInput?: string;
    } = {},
  ): Promise<SignedQueryRequest> {
    const signer = fields.signer ?? consumer;
    const worker = fields.worker ?? firstWorker();
    const epoch = fields.epoch ?? (await currentEpoch());
    const nowSeconds = BigInt(Math.floor(clock.now() / 1000));
    const message = {
      consumer: fields.consumer ?? signer.address,
      key: zeroAddress,
      worker,
      epoch,
      total: fields.total ?? nextTotal(fields.consumer ?? signer.address, worker, epoch),
      maxFeePerQuery: fields.maxFeePerQuery ?? fee,
      inputHash: keccak256(toHex(fields.signedInput ?? fields.input ?? `hello ${++inputs}`)),
      deadline: fields.deadline ?? nowSeconds + 600n,
    };
    const signature = await signer.signTypedData({
      domain: usageDomain(
        fields.chainId ?? system.deployment.chainId,
        fields.usageSettlement ?? system.deployment.contracts.usageSettlement,
      ),
      types: usageTypes,
      primaryType: "Usage",
      message,
    });
    return {
      consumer: message.consumer,
      input: fields.input ?? `hello ${inputs}`,
      epoch: message.epoch.toString(),
      total: message.total.toString(),
      maxFeePerQuery: message.maxFeePerQuery.toString(),
      deadline: Number(message.deadline),
      signature,
    };
  }

  /**
   * Signs a chat-completions body as `signer` would, for the `openai` client's per-request
   * `headers`; every field can be overridden to make a bad one.
   */
  async function signChat(
    body: object,
    fields: {
      total?: bigint;
      epoch?: bigint;
      deadline?: bigint;
      maxFeePerQuery?: bigint;
      worker?: Address;
      signer?: LocalAccount;
    } = {},
  ): Promise<Record<string, string>> {
    const signer = fields.signer ?? consumer;
    const worker = fields.worker ?? firstWorker();
    const epoch = fields.epoch ?? (await currentEpoch());
    return signChatRequest({
      body,
      signer,
      consumer: signer.address,
      worker,
      epoch,
      total: fields.total ?? nextTotal(signer.address, worker, epoch),
      maxFeePerQuery: fields.maxFeePerQuery ?? fee,
      deadline: fields.deadline ?? BigInt(Math.floor(clock.now() / 1000)) + 600n,
      chainId: system.deployment.chainId,
      usageSettlement: system.deployment.contracts.usageSettlement,
    });
  }

  /** Serves a worker's API on a local port, for clients that speak HTTP (the `openai` client, curl); its base URL. */
  async function listen(worker: InferenceTestWorker): Promise<string> {
    const address = await worker.worker.app.listen({ host: "127.0.0.1", port: 0 });
    return `${address}/v1`;
  }

  async function query(worker: InferenceTestWorker, body: unknown) {
    const response = await worker.worker.app.inject({ method: "POST", url: "/v1/queries", payload: body as object });
    return { status: response.statusCode, headers: response.headers, body: response.json() };
  }

  async function quotaOf(worker: InferenceTestWorker, address: Address = consumer.address) {
    const response = await worker.worker.app.inject({ method: "GET", url: `/v1/quota/${address}` });
    return { status: response.statusCode, body: response.json() };
  }

  function readRegistry<T>(functionName: string, args: readonly unknown[] = []): Promise<T> {
    return system.publicClient.readContract({
      address: system.deployment.contracts.policyRegistry,
      abi: policyRegistryAbi,
      functionName,
      args,
    } as never) as Promise<T>;
  }

  function readSettlement<T>(functionName: string, args: readonly unknown[] = []): Promise<T> {
    return system.publicClient.readContract({
      address: system.deployment.contracts.usageSettlement,
      abi: usageSettlementAbi,
      functionName,
      args,
    } as never) as Promise<T>;
  }

  async function poolOf(epoch: bigint): Promise<bigint> {
    const [pool] = await system.publicClient.readContract({
      address: system.deployment.contracts.contributorRewards,
      abi: contributorRewardsAbi,
      functionName: "epochTotals",
      args: [epoch],
    });
    return pool;
  }

  const currentEpoch = () => readRegistry<bigint>("currentEpoch");

  /** Moves the chain (and the workers' clock) `seconds` ahead and lets each running worker see it. */
  async function advanceTime(seconds: number) {
    await system.testClient.increaseTime({ seconds });
    await system.testClient.mine({ blocks: 1 });
    await clock.sync();
    for (const worker of running) await worker.worker.policySync.poll();
  }

  /** Back to the state right after set-up, with every worker stopped. */
  async function reset() {
    await Promise.all([...running].map((worker) => worker.close()));
    await snapshots.restore();
    await clock.sync();
    // Fresh workers and a chain back at the start: every lane starts again at total 1.
    totals.clear();
  }

  async function cleanUp() {
    await Promise.all([...running].map((worker) => worker.close()));
    await rm(root, { recursive: true, force: true });
  }

  return {
    ...system,
    governance,
    consumer,
    quota,
    fee,
    clock,
    manifest,
    workerWallets,
    startWorker,
    signQuery,
    signChat,
    listen,
    query,
    quotaOf,
    readRegistry,
    readSettlement,
    poolOf,
    currentEpoch,
    advanceTime,
    reset,
    cleanUp,
  };
}

export type InferenceTestSystem = Awaited<ReturnType<typeof createInferenceTestSystem>>;
