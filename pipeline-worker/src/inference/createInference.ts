import path from "node:path";
import type { Account, Address, Chain, Hex, PublicClient, Transport, WalletClient } from "viem";
import { createDigestSigner } from "../chain/signatures.ts";
import { inferenceConfigSchema } from "../internal/configSchema.ts";
import type { Logger } from "../internal/createLogger.ts";
import type { Metrics } from "../internal/createMetrics.ts";
import type { InferenceConfig } from "../internal/loadConfig.ts";
import type { Model } from "../model/Model.ts";
import type { PolicySync } from "../policy/createPolicySync.ts";
import { createKeyRegistry, type KeyRegistry } from "./createKeyRegistry.ts";
import { createQueryService, type QueryService } from "./createQueryService.ts";
import { createServedEpochs } from "./createServedEpochs.ts";
import {
  createUsageSettler,
  type FlushOptions,
  type SettlementResult,
  type UsageSettler,
} from "./createUsageSettler.ts";
import { createUsageStore, type UsageStore } from "./createUsageStore.ts";

/** What a worker configured without an `inference` section runs with: the schema's defaults. */
export const DEFAULT_INFERENCE_CONFIG: InferenceConfig = inferenceConfigSchema.parse({});

export type CreateInferenceParameters = {
  config: InferenceConfig;
  /** The worker's data directory; the usage store lives in `<dataDir>/usage`. */
  dataDir: string;
  chainId: number;
  contracts: { usageSettlement: Address; policyRegistry: Address };
  publicClient: PublicClient;
  walletClient: WalletClient<Transport, Chain, Account>;
  /** The wallet client's private key, when the worker holds it: receipts are then signed in process (createDigestSigner). */
  receiptKey?: Hex;
  policy: Pick<PolicySync, "requireFreshPolicy" | "onKillSwitch">;
  model: Model;
  /**
   * Settle by itself: lanes of ended epochs every `settlementIntervalSeconds`, and a consumer's
   * lanes at once when it cancels vouchers, requests a withdrawal or revokes a key. Default true.
   */
  autoSettle?: boolean;
  /** How often the settlement loop looks at the queue. Default 2,000 ms. */
  pollingIntervalMs?: number;
  /** Blocks a settle transaction must have before its queries leave the store (see createUsageSettler). Default 0. */
  confirmations?: number;
  now?: () => number;
  logger: Logger;
  metrics: Metrics;
};

export type Inference = {
  queries: QueryService;
  store: UsageStore;
  /** The API and session keys consumers registered here (`POST /v1/keys`). */
  keys: KeyRegistry;
  /** The settler: `watch` reads the consumers' events that make their lanes urgent (the loop calls it). */
  settlement: Pick<UsageSettler, "watch">;
  /**
   * Settles now: by default every lane, the epoch under way included (the loop does it by itself
   * when `autoSettle`, for lanes of ended epochs and lanes flagged urgent).
   */
  settle(options?: FlushOptions): Promise<SettlementResult>;
  /** Starts the settlement loop. */
  start(): void;
  /** Stops the loop, waits for a settlement in flight, closes the store. */
  close(): Promise<void>;
};

/**
 * The inference stage, assembled: the durable usage store, the query service in front of the
 * model, and the settler with its loop. A lane (consumer, key, epoch) is settled with one entry
 * once its epoch has ended, by the first loop turn after it (every `settlementIntervalSeconds`),
 * and at once when the consumer cancels vouchers, requests a withdrawal or revokes a key.
 */
export async function createInference(parameters: CreateInferenceParameters): Promise<Inference> {
  const { config, logger } = parameters;
  const now = parameters.now ?? Date.now;
  const autoSettle = parameters.autoSettle ?? true;
  const store = await createUsageStore({ directory: path.join(parameters.dataDir, "usage") });
  const keys = await createKeyRegistry({
    directory: path.join(parameters.dataDir, "keys"),
    client: parameters.publicClient,
    chainId: parameters.chainId,
    usageSettlement: parameters.contracts.usageSettlement,
    worker: parameters.walletClient.account.address,
    policy: parameters.policy,
    unsettledOfKey: (consumer, key) => store.unsettledOfKey(consumer, key),
    settledCount: (consumer) => store.settledCount(consumer),
    // Called from a timer, after the settler below exists.
    onExpiry: (consumer) => settler.urgent(consumer),
    ...(parameters.now ? { now: parameters.now } : {}),
  });
  // Shared, so that the query service serves no epoch the settler has settled (createServedEpochs).
  const servedEpochs = createServedEpochs(now);
  const settler = createUsageSettler({
    publicClient: parameters.publicClient,
    walletClient: parameters.walletClient,
    usageSettlement: parameters.contracts.usageSettlement,
    policyRegistry: parameters.contracts.policyRegistry,
    store,
    keys,
    servedEpochs,
    logger,
    metrics: parameters.metrics,
    batchSize: config.settlementBatchSize,
    confirmations: parameters.confirmations ?? 0,
  });

  let lastFlushAt = now();
  let inFlight: Promise<unknown> | undefined;
  const settleSoon = () => {
    if (!autoSettle || inFlight !== undefined) return;
    lastFlushAt = now();
    inFlight = settler
      .flush()
      .catch((error: unknown) => logger.warn({ err: error }, "settling usage failed; will retry"))
      .finally(() => {
        inFlight = undefined;
      });
  };

  const queries = createQueryService({
    client: parameters.publicClient,
    walletClient: parameters.walletClient,
    ...(parameters.receiptKey === undefined ? {} : { receiptSigner: createDigestSigner(parameters.receiptKey) }),
    chainId: parameters.chainId,
    usageSettlement: parameters.contracts.usageSettlement,
    policy: parameters.policy,
    store,
    keys,
    model: parameters.model,
    workerIndex: config.workerIndex,
    workerCount: config.workerCount,
    ...(parameters.now ? { now: parameters.now } : {}),
    servedEpochs,
    logger,
    metrics: parameters.metrics,
  });

  let timer: NodeJS.Timeout | undefined;
  return {
    queries,
    store,
    keys,
    settlement: settler,
    settle: (options = { all: true }) => settler.flush(options),
    start() {
      if (!autoSettle || timer !== undefined) return;
      timer = setInterval(() => {
        if (inFlight !== undefined) return;
        // The consumers' cancellations, withdrawal requests, key revocations (and keys expiring) flag their lanes;
        // otherwise lanes of ended epochs settle every `settlementIntervalSeconds`.
        settler
          .watch()
          .then((flagged) => {
            const due = now() - lastFlushAt >= config.settlementIntervalSeconds * 1000;
            if (flagged > 0 || settler.hasUrgent() || (due && store.pendingCount() > 0)) settleSoon();
          })
          .catch((error: unknown) => logger.warn({ err: error }, "reading the consumers' events failed; will retry"));
      }, parameters.pollingIntervalMs ?? 2_000);
      timer.unref();
    },
    async close() {
      clearInterval(timer);
      queries.close();
      // A settlement in flight finishes its store writes before the store closes under it.
      await inFlight;
      await settler.idle();
      await store.close();
      await keys.close();
    },
  };
}
