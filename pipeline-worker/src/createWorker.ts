import path from "node:path";
import type { FastifyInstance } from "fastify";
import {
  createPublicClient,
  createWalletClient,
  http,
  type Account,
  type Chain,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { signedQueryBody, signedQueryHeaders } from "./api/authenticateQuery.ts";
import { createBearerAuthenticator } from "./api/bearerToken.ts";
import { createApiServer } from "./api/createApiServer.ts";
import { ERROR_DOCS_PATH, registerHealthRoutes } from "./api/routes/registerHealthRoutes.ts";
import { registerKeyRoutes } from "./api/routes/registerKeyRoutes.ts";
import { registerPolicyRoutes } from "./api/routes/registerPolicyRoutes.ts";
import { registerQueryRoutes } from "./api/routes/registerQueryRoutes.ts";
import { registerSubmissionRoutes } from "./api/routes/registerSubmissionRoutes.ts";
import { registerUsageRoutes } from "./api/routes/registerUsageRoutes.ts";
import { offThreadSha256Pool } from "./crypto/createOffThreadSha256Tap.ts";
import { createContributionRecorder } from "./ingest/createContributionRecorder.ts";
import { createWithdrawalWatcher, type WithdrawalWatcher } from "./ingest/createWithdrawalWatcher.ts";
import { createSubmissionService } from "./ingest/createSubmissionService.ts";
import { createInference, DEFAULT_INFERENCE_CONFIG, type Inference } from "./inference/createInference.ts";
import { createUnconfiguredModel } from "./inference/createUnconfiguredModel.ts";
import { createLogger, type Logger } from "./internal/createLogger.ts";
import { createMetrics } from "./internal/createMetrics.ts";
import { maxHeadAgeSecondsFor } from "./internal/configSchema.ts";
import type { WorkerConfig } from "./internal/loadConfig.ts";
import type { Model } from "./model/Model.ts";
import { declareServedRun } from "./inference/declareServedRun.ts";
import { registerContributionRoutes } from "./api/routes/registerContributionRoutes.ts";
import { WorkerError } from "./internal/WorkerError.ts";
import { createPolicySync } from "./policy/createPolicySync.ts";
import { readPolicyDeployment } from "./policy/readPolicyDeployment.ts";
import { readDeploymentManifest } from "./chain/readDeploymentManifest.ts";
import type { ContentStore } from "./storage/ContentStore.ts";
import { createHeliaContentStore } from "./storage/createHeliaContentStore.ts";
import { createJournal, type Journal } from "./storage/createJournal.ts";
import { createRecordPool } from "./ingest/createRecordPool.ts";
import { createKuboContentStore } from "./storage/createKuboContentStore.ts";

export type CreateWorkerParameters = {
  config: WorkerConfig;
  logger?: Logger;
  /** A ready client (tests pass Hardhat's in-process one); otherwise one is made from `config.rpcUrl`. */
  publicClient?: PublicClient;
  walletClient?: WalletClient<Transport, Chain, Account>;
  /** Milliseconds between policy polls and recorder flushes. Default 2,000. */
  pollingIntervalMs?: number;
  /** Record stored submissions on chain by itself (after each upload and every interval). Default true; tests turn it off to control when. */
  autoRecord?: boolean;
  now?: () => number;
  /** The model queries are answered by. Default: one that refuses every query (MODEL_UNAVAILABLE). */
  model?: Model;
  /**
   * Instead of `model`: loads it once the worker's store and clients exist (the keyholder path
   * reads the committed encrypted weights from this worker's own content store). Undefined: no model.
   */
  loadModel?: (context: {
    store: ContentStore;
    publicClient: PublicClient;
    walletClient: WalletClient<Transport, Chain, Account>;
  }) => Promise<Model | undefined>;
  /** Settle served queries on chain by itself. Default true; tests turn it off to control when. */
  autoSettle?: boolean;
  /** The content store to use instead of the configured one (tests wrap one to inject faults); closed with the worker. */
  store?: ContentStore;
};

export type Worker = {
  app: FastifyInstance;
  /** Listens on the configured host and port; resolves to the URL. */
  listen(): Promise<string>;
  /** Records everything stored (the loop does this every interval). */
  flush(): Promise<number>;
  close(): Promise<void>;
  policySync: Awaited<ReturnType<typeof createPolicySync>>;
  /** Where ciphertexts and manifests are kept: for operators' tools and tests. */
  store: ContentStore;
  /** The submissions' journal: the training spec builder finds recorded submissions' manifests here. */
  journal: Journal;
  /** Queries, their durable usage counts and their settlement on chain. */
  inference: Inference;
  /** Contributors' withdrawals: unpins withdrawn submissions (the loop polls it every interval). */
  withdrawals: WithdrawalWatcher;
};

/**
 * Builds the worker from its configuration: chain clients, the policy sync, the journal, the
 * content store, the submission service and the recorder, behind the HTTP API. Nothing listens or
 * polls until `listen`.
 */
export async function createWorker(parameters: CreateWorkerParameters): Promise<Worker> {
  const { config } = parameters;
  const logger = parameters.logger ?? createLogger({ level: config.logLevel, name: "worker" });
  const metrics = createMetrics({ defaultMetrics: parameters.publicClient === undefined });
  const manifest = readDeploymentManifest(config.deploymentManifest);
  if (manifest.chainId !== config.chainId) {
    throw new WorkerError(
      "CONFIG_INVALID",
      `The manifest is for chain ${manifest.chainId}, the worker is configured for ${config.chainId}.`,
      {
        hints: ["Point deploymentManifest at the manifest of the configured chain."],
      },
    );
  }
  const chain: Chain = {
    id: config.chainId,
    name: `chain ${config.chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [config.rpcUrl] } },
  };
  const publicClient =
    parameters.publicClient ?? (createPublicClient({ chain, transport: http(config.rpcUrl) }) as PublicClient);
  const walletClient =
    parameters.walletClient ??
    createWalletClient({ chain, transport: http(config.rpcUrl), account: privateKeyToAccount(config.privateKey) });
  const pollingIntervalMs = parameters.pollingIntervalMs ?? 2_000;

  const closers: (() => Promise<void>)[] = [];
  // Last to close: the hashing threads uploads used (shared by the process; idle ones end now).
  closers.push(() => offThreadSha256Pool.close());
  try {
    const policySync = await createPolicySync({
      client: publicClient,
      deployment: readPolicyDeployment(manifest),
      directory: path.join(config.dataDir, "policy"),
      confirmations: config.confirmations,
      stalenessMs: config.stalenessSeconds * 1000,
      maxHeadAgeSeconds: config.maxHeadAgeSeconds ?? maxHeadAgeSecondsFor(config.chainId),
      pollingIntervalMs,
      ...(parameters.now ? { now: parameters.now } : {}),
      logger,
      metrics,
    });
    closers.push(() => policySync.close());
    const journal = await createJournal({ directory: path.join(config.dataDir, "journal") });
    closers.push(() => journal.close());
    const recordPool = await createRecordPool({ directory: path.join(config.dataDir, "records") });
    closers.push(() => recordPool.close());
    const store: ContentStore =
      parameters.store ??
      (config.storage.kind === "kubo"
        ? createKuboContentStore({ url: config.storage.kuboUrl! })
        : await createHeliaContentStore({ directory: path.join(config.dataDir, "ipfs") }));
    closers.push(() => store.close());

    const submissions = createSubmissionService({
      client: publicClient,
      chainId: config.chainId,
      contracts: manifest.contracts,
      policy: policySync,
      journal,
      store,
      recordPool,
      maxPayloadBytes: config.maxPayloadBytes,
      ...(config.maxConcurrentUploads === undefined ? {} : { maxConcurrentUploads: config.maxConcurrentUploads }),
      ...(parameters.now ? { now: parameters.now } : {}),
      logger,
      metrics,
    });
    closers.push(async () => submissions.close());
    await submissions.resume();
    const recorder = createContributionRecorder({
      publicClient,
      walletClient,
      contributorRewards: manifest.contracts.contributorRewards,
      journal,
      logger,
      metrics,
      // A record or settle transaction counts once it has the confirmations a policy change needs.
      confirmations: config.confirmations,
      onFinished: (record) => submissions.finished((record.data.received?.envelope as { dataHash: string }).dataHash),
    });
    const withdrawals = createWithdrawalWatcher({
      publicClient,
      contributorRewards: manifest.contracts.contributorRewards,
      fromBlock: BigInt(manifest.deploymentBlock),
      journal,
      store,
      logger,
    });
    const watchWithdrawals = () => {
      withdrawals
        .poll()
        .catch((error: unknown) => logger.warn({ err: error }, "reading withdrawals failed; will retry"));
    };

    const app = createApiServer({
      logger,
      metrics,
      docsUrl: ERROR_DOCS_PATH,
      bodyIdleTimeoutMs: config.http.bodyIdleTimeoutMs,
    });
    registerHealthRoutes(app, {
      metrics,
      checkReady: async () => {
        policySync.requireFreshPolicy();
      },
    });
    registerPolicyRoutes(app, {
      chainId: config.chainId,
      contributorRewards: manifest.contracts.contributorRewards,
      usageSettlement: manifest.contracts.usageSettlement,
      policySnapshot: (consumer) => policySync.snapshot({ consumer }),
    });
    const autoRecord = parameters.autoRecord ?? true;
    const flushSoon = () => {
      if (!autoRecord) return;
      recorder
        .flush()
        .catch((error: unknown) => logger.warn({ err: error }, "recording contributions failed; will retry"));
    };
    registerSubmissionRoutes(app, { submissions, onStored: flushSoon });
    const inferenceConfig = config.inference ?? DEFAULT_INFERENCE_CONFIG;
    const model =
      parameters.model ??
      (await parameters.loadModel?.({ store, publicClient, walletClient })) ??
      createUnconfiguredModel();
    const inference = await createInference({
      config: inferenceConfig,
      dataDir: config.dataDir,
      chainId: config.chainId,
      contracts: manifest.contracts,
      publicClient,
      walletClient,
      // The worker holds the key of the wallet it made, and signs receipts with it in process.
      ...(parameters.walletClient === undefined ? { receiptKey: config.privateKey } : {}),
      policy: policySync,
      model,
      ...(parameters.autoSettle === undefined ? {} : { autoSettle: parameters.autoSettle }),
      pollingIntervalMs,
      confirmations: config.confirmations,
      ...(parameters.now ? { now: parameters.now } : {}),
      logger,
      metrics,
    });
    closers.push(() => inference.close());
    registerQueryRoutes(app, {
      queries: inference.queries,
      maxInputLength: inferenceConfig.maxInputLength,
      // Signed vouchers first: the openai client sends its `apiKey` as a bearer token even when
      // the request is signed in its headers.
      authenticators: [signedQueryBody, signedQueryHeaders, createBearerAuthenticator({ keys: inference.keys })],
      ...(parameters.now ? { now: parameters.now } : {}),
    });
    registerKeyRoutes(app, {
      keys: inference.keys,
      store: inference.store,
      policy: policySync,
      ...(parameters.now ? { now: parameters.now } : {}),
    });
    registerContributionRoutes(app, {
      publicClient,
      modelCommitments: manifest.contracts.modelCommitments,
      store,
    });
    registerUsageRoutes(app, {
      store: inference.store,
      worker: walletClient.account.address,
      publicClient,
      usageSettlement: manifest.contracts.usageSettlement,
    });

    let timer: NodeJS.Timeout | undefined;
    return {
      app,
      policySync,
      store,
      journal,
      inference,
      withdrawals,
      flush: () => recorder.flush(),
      async listen() {
        await policySync
          .poll()
          .catch((error: unknown) =>
            logger.warn({ err: error }, "first policy poll failed; refusing requests until one succeeds"),
          );
        policySync.start();
        timer = setInterval(() => {
          flushSoon();
          watchWithdrawals();
        }, pollingIntervalMs);
        timer.unref();
        // Before the settler's loop starts: what was served under the previously declared model
        // is settled to it, and only then do fees follow this one.
        await declareServedRun({
          publicClient,
          walletClient,
          usageSettlement: manifest.contracts.usageSettlement,
          runId: model.runId,
          settleAll: () => inference.settle({ all: true }),
          logger,
        });
        inference.start();
        return app.listen({ host: config.http.host, port: config.http.port });
      },
      async close() {
        clearInterval(timer);
        // Uploads are paced by their clients: abort them first, or closing the server waits on them.
        submissions.close();
        await app.close();
        // A flush in flight finishes its journal writes before the journal closes under it.
        await recorder.settled();
        await withdrawals.settled();
        for (const close of closers.toReversed()) await close();
      },
    };
  } catch (error) {
    for (const close of closers.toReversed()) await close().catch(() => {});
    throw error;
  }
}
