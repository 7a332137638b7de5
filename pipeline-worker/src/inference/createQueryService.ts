import { Counter, Histogram, type Registry } from "prom-client";
import {
  bytesToHex,
  getAddress,
  keccak256,
  maxUint64,
  toHex,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { usageSettlementAbi } from "../abis.ts";
import { ethMessageDigest, recoverDigestSigner, sameAddress, type DigestSigner } from "../chain/signatures.ts";
import { createQueryHasher } from "../chain/typedData.ts";
import { BaseError } from "../internal/BaseError.ts";
import type { Logger } from "../internal/createLogger.ts";
import type { Metrics } from "../internal/createMetrics.ts";
import { isWorkerError, WorkerError } from "../internal/WorkerError.ts";
import type { Model, ModelAnswer } from "../model/Model.ts";
import type { PolicySync, PolicyView } from "../policy/createPolicySync.ts";
import { epochAt, isWorker, quotaOf, type EpochSchedule } from "../policy/Policy.ts";
import { availableOf, createDepositCache } from "./createDepositCache.ts";
import { createSpentNonces } from "./createSpentNonces.ts";
import { noModelError } from "./createUnconfiguredModel.ts";
import type { QueryVoucher, UsageStore } from "./createUsageStore.ts";
import { answerHashOf, receiptDigestBytes, type QueryReceipt } from "./queryReceipt.ts";
import { workerShare } from "./workerShare.ts";

/** The body of `POST /v1/queries`: the consumer's signed query and its input. */
export type QueryRequest = {
  consumer: string;
  /** The input itself; the consumer signed its keccak256 (of the UTF-8 bytes). */
  input: string;
  /** Decimal uint64. */
  nonce: string;
  /** Decimal uint64: the epoch whose quota the query counts against. */
  epoch: string;
  /** Unix seconds. */
  deadline: number;
  signature: Hex;
};

/** A consumer's usage in the current epoch, as this worker counts it. */
export type QueryUsage = {
  epoch: string;
  /** Unix seconds at which the epoch ends and the quota is restored. */
  epochEndsAt: number;
  /** The consumer's quota per epoch, from the policy. */
  quota: string;
  /** The consumer's queries this worker served in the epoch. */
  used: string;
  /** How many more this worker will serve in the epoch (its share minus `used`). */
  remaining: string;
  /** The part of the quota this worker serves; the workers' shares add up to the quota. */
  share: { workerIndex: number; workerCount: number; queries: string };
};

export type QueryResponse = { answer: ModelAnswer; usage: QueryUsage; receipt: QueryReceipt };

/**
 * A query as the consumer signed it, whatever route carried it: `POST /v1/queries` signs the
 * keccak256 of its input, the OpenAI-compatible routes the hash of the request (chatInputHash).
 */
export type SignedQuery = Omit<QueryRequest, "input"> & { inputHash: Hex };

/**
 * Runs the model for a query that passed every check and is counted. It gets a signal that aborts
 * when the kill switch engages, and returns what it produced with the hash the receipt binds.
 */
export type InvokeModel<T> = (context: {
  model: Model;
  signal: AbortSignal;
}) => Promise<{ result: T; answerHash: Hex }>;

export type Served<T> = { result: T; usage: QueryUsage; receipt: QueryReceipt };
export type QuotaStatus = QueryUsage & { consumer: Address };

export type CreateQueryServiceParameters = {
  client: PublicClient;
  /** Its account signs the receipts; it must be an authorised worker. */
  walletClient: WalletClient<Transport, Chain, Account>;
  /**
   * Signs receipts in process with the same key as `walletClient`'s account (createDigestSigner),
   * about 10 times faster than the wallet client. Without it the wallet client signs.
   */
  receiptSigner?: DigestSigner;
  chainId: number;
  usageSettlement: Address;
  policy: Pick<PolicySync, "requireFreshPolicy" | "onKillSwitch">;
  store: UsageStore;
  model: Model;
  workerIndex?: number;
  workerCount?: number;
  /** Milliseconds since the epoch; injected by tests. */
  now?: () => number;
  logger: Logger;
  metrics: Metrics;
  /** Called after each query is counted (the settler batches them). */
  onCounted?: () => void;
};

export type QueryService = ReturnType<typeof createQueryService>;

const SCORES = new Set(["low", "medium", "high"]);
const MAX_LABEL_LENGTH = 64;

/**
 * Serves consumers' signed queries within the DAO's policy. Each query is checked, in this order,
 * each check with its own code: the policy is fresh (POLICY_STALE), the kill switch is off
 * (KILL_SWITCH_ENGAGED), there is a model (MODEL_UNAVAILABLE), this worker is authorised
 * (WORKER_NOT_AUTHORISED), the signature is the consumer's, low-s, over this chain and
 * UsageSettlement (SIGNATURE_INVALID), the deadline has not passed (SIGNATURE_EXPIRED), the epoch
 * is the current one (WRONG_EPOCH), the nonce is unused here and on chain (NONCE_REPLAYED), the
 * consumer has a quota (NO_QUOTA), this worker's share of it is not spent (QUOTA_EXHAUSTED) and
 * the deposit pays the fee (DEPOSIT_INSUFFICIENT).
 *
 * A query that passed them is counted durably (fsync'd: its nonce spent, one more against the
 * quota, its fee owed) before the model is invoked, and stays counted whatever the model then
 * does. A model that fails, times out or answers outside its contract gets the consumer one and
 * the same refusal, MODEL_FAILED, with no detail of the cause (operators find it in the log): a
 * failure that cost nothing could be replayed without limit with one signed query, and a failure
 * whose text varied would tell a prompt-injected model's verdict through the error. The model sees
 * an AbortSignal that fires when the kill switch engages; a query it stops is refused, counted.
 */
export function createQueryService(parameters: CreateQueryServiceParameters) {
  const { client, walletClient, store, model, logger } = parameters;
  const workerIndex = parameters.workerIndex ?? 0;
  const workerCount = parameters.workerCount ?? 1;
  workerShare({ quota: 0n, workerIndex, workerCount });
  const now = parameters.now ?? Date.now;
  const worker = getAddress(walletClient.account.address);
  if (parameters.receiptSigner !== undefined && !sameAddress(parameters.receiptSigner.address, worker)) {
    throw new WorkerError("CONFIG_INVALID", "The receipt signer's key is not the worker account's key.", {
      hints: ["Give the query service the key of the wallet client's account."],
    });
  }
  const hashQuery = createQueryHasher(parameters.chainId, parameters.usageSettlement);
  const modelHash = keccak256(toHex(model.id));
  const deposits = createDepositCache({
    read: (consumer) =>
      chainRead(async () => {
        const [balance, pendingWithdrawal, unlocksAt] = await client.readContract({
          address: parameters.usageSettlement,
          abi: usageSettlementAbi,
          functionName: "accountOf",
          args: [consumer],
        });
        return { balance, pendingWithdrawal, unlocksAt: BigInt(unlocksAt) };
      }),
    settledCount: (consumer) => store.settledCount(consumer),
  });
  const spentNonces = createSpentNonces({
    readStorage: (slot) => client.getStorageAt({ address: parameters.usageSettlement, slot }),
  });
  const metrics = createQueryMetrics(parameters.metrics.registry);

  /** Queries between their replay check and their end, by consumer and nonce. */
  const inFlightNonces = new Set<string>();
  /** Reservations held against shares, by epoch and consumer, and against deposits, by consumer. */
  const reservedByEpoch = new Map<string, bigint>();
  const reservedByConsumer = new Map<Address, bigint>();
  const controllers = new Set<AbortController>();

  const unsubscribe = parameters.policy.onKillSwitch((change) => {
    if (!change.engaged) return;
    const reason = killSwitchError(change.killSwitch.reason, { counted: true });
    if (controllers.size > 0) logger.warn({ inFlight: controllers.size }, "Kill switch: refusing queries in flight.");
    for (const controller of controllers) controller.abort(reason);
  });

  function epochInfo(epochs: EpochSchedule) {
    const nowSeconds = BigInt(Math.floor(now() / 1000));
    const epoch = epochAt(epochs, nowSeconds);
    const epochEndsAt = epochs.epochGenesis + (epoch + 1n) * epochs.epochLength;
    return { nowSeconds, epoch, epochEndsAt };
  }

  function usageOf(quota: bigint, used: bigint, epoch: bigint, epochEndsAt: bigint): QueryUsage {
    const share = workerShare({ quota, workerIndex, workerCount });
    return {
      epoch: epoch.toString(),
      epochEndsAt: Number(epochEndsAt),
      quota: quota.toString(),
      used: used.toString(),
      remaining: (share > used ? share - used : 0n).toString(),
      share: { workerIndex, workerCount, queries: share.toString() },
    };
  }

  function reserve(consumer: Address, epoch: bigint) {
    const key = `${epoch}!${consumer}`;
    reservedByEpoch.set(key, (reservedByEpoch.get(key) ?? 0n) + 1n);
    reservedByConsumer.set(consumer, (reservedByConsumer.get(consumer) ?? 0n) + 1n);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      const byEpoch = reservedByEpoch.get(key)! - 1n;
      if (byEpoch === 0n) reservedByEpoch.delete(key);
      else reservedByEpoch.set(key, byEpoch);
      const byConsumer = reservedByConsumer.get(consumer)! - 1n;
      if (byConsumer === 0n) reservedByConsumer.delete(consumer);
      else reservedByConsumer.set(consumer, byConsumer);
    };
  }

  /** `POST /v1/queries`: the embedded use, a label and a coarse score for the input. */
  async function query(request: QueryRequest): Promise<QueryResponse> {
    const { input, ...signed } = request;
    const inputHash = bytesToHex(keccak256(Buffer.from(input, "utf8"), "bytes"));
    const served = await serve({ ...signed, inputHash }, async ({ signal }) => {
      const answer = await classify(input, signal);
      return { result: answer, answerHash: answerHashOf(answer) };
    });
    return { answer: served.result, usage: served.usage, receipt: served.receipt };
  }

  /** Checks and counts a signed query, runs `invoke`, and signs the receipt of what it produced. */
  async function serve<T>(query: SignedQuery, invoke: InvokeModel<T>): Promise<Served<T>> {
    const started = performance.now();
    try {
      const response = await serveQuery(query, invoke);
      metrics.queries.inc({ outcome: "served" });
      metrics.seconds.observe((performance.now() - started) / 1000);
      return response;
    } catch (error) {
      metrics.queries.inc({ outcome: isWorkerError(error) ? error.code : "INTERNAL" });
      throw error;
    }
  }

  async function serveQuery<T>(query: SignedQuery, invoke: InvokeModel<T>): Promise<Served<T>> {
    const view: PolicyView = parameters.policy.requireFreshPolicy();
    const { policy } = view;
    if (policy.killSwitch.engaged) throw killSwitchError(policy.killSwitch.reason, { counted: false });
    if (model.unconfigured) throw noModelError();
    if (model.runId !== undefined && policy.trainingRuns.get(model.runId)?.revoked)
      throw revokedModelError(model.runId);
    // Registered before anything is awaited, so a kill switch seen from here on refuses this query.
    const controller = new AbortController();
    controllers.add(controller);
    try {
      return await serveChecked(query, invoke, view, controller.signal);
    } finally {
      controllers.delete(controller);
    }
  }

  async function serveChecked<T>(
    request: SignedQuery,
    invoke: InvokeModel<T>,
    view: PolicyView,
    signal: AbortSignal,
  ): Promise<Served<T>> {
    const { policy } = view;
    if (!isWorker(policy, worker)) {
      throw new WorkerError("WORKER_NOT_AUTHORISED", `This worker (${worker}) is not authorised by the DAO.`, {
        hints: ["Send the query to an authorised worker (PolicyRegistry.isWorker)."],
      });
    }
    // Any letter case is accepted: the signature, not a checksum, says whose query it is.
    const consumer = getAddress(request.consumer.toLowerCase());
    const nonce = uint64(request.nonce, "nonce");
    const epoch = uint64(request.epoch, "epoch");
    const deadline = BigInt(request.deadline);
    const message = { consumer, inputHash: request.inputHash, nonce, epoch, deadline };
    // The query's EIP-712 digest: what the consumer signed, and the receipt's `queryDigest`.
    const queryDigest = hashQuery(message);
    if (!sameAddress(recoverDigestSigner(queryDigest, request.signature), consumer)) {
      throw new WorkerError("SIGNATURE_INVALID", "The signature is not the consumer's over this query.", {
        hints: [
          "Sign the Query exactly as GET /v1/eip712 describes, over keccak256 of the UTF-8 input (on the OpenAI-compatible routes, chatInputHash of the request body), with the consumer's key, for this chain and UsageSettlement.",
        ],
      });
    }
    const { nowSeconds, epoch: currentEpoch, epochEndsAt } = epochInfo(view.epochs);
    if (deadline < nowSeconds) {
      throw new WorkerError(
        "SIGNATURE_EXPIRED",
        `The query expired at ${new Date(Number(deadline) * 1000).toISOString()}.`,
        {
          hints: ["Sign the query again with a later deadline."],
        },
      );
    }
    if (epoch !== currentEpoch) {
      throw new WorkerError(
        "WRONG_EPOCH",
        `The query is signed for epoch ${epoch}; the current epoch is ${currentEpoch}.`,
        {
          hints: [`Sign the query again for epoch ${currentEpoch}.`],
          extra: { currentEpoch: currentEpoch.toString(), epochEndsAt: Number(epochEndsAt) },
        },
      );
    }

    const replayed = () =>
      new WorkerError("NONCE_REPLAYED", `Nonce ${nonce} of ${consumer} was already used.`, {
        hints: ["Sign the query again with a nonce you have not used."],
      });
    const nonceKey = `${consumer}!${nonce}`;
    if (inFlightNonces.has(nonceKey)) throw replayed();
    // Held from before the replay checks until the query is counted or refused: a second request
    // with this nonce either finds it here or finds the counted voucher in the store.
    inFlightNonces.add(nonceKey);
    let release: (() => void) | undefined;
    try {
      const fee = policy.feePerQuery;
      const head = view.head.blockHash ?? String(view.head.blockNumber);
      // Spent nonces and deposits are read once per head block, not per query
      // (createSpentNonces and createDepositCache give the bounds), while the local checks run.
      const onChainNonce = chainRead(() => spentNonces.isSpent(consumer, nonce, head));
      const account = fee > 0n ? deposits.account(consumer, head) : undefined;
      // Both reads run while the local checks do; neither may be left rejecting unobserved.
      onChainNonce.catch(() => undefined);
      account?.catch(() => undefined);

      if ((await store.get(consumer, nonce)) !== undefined) throw replayed();
      // Settled on chain: by this worker before its store was lost, or by another worker.
      if (await onChainNonce) throw replayed();

      const quota = quotaOf(policy, consumer);
      if (quota === 0n) {
        throw new WorkerError("NO_QUOTA", `${consumer} has no query quota.`, {
          hints: ["Ask the DAO to give this address a quota through a proposal."],
        });
      }
      await store.used(consumer, epoch);
      // From here to `reserve` nothing is awaited: the check and the reservation are one step.
      const share = workerShare({ quota, workerIndex, workerCount });
      const used = store.usedNow(consumer, epoch) + (reservedByEpoch.get(`${epoch}!${consumer}`) ?? 0n);
      if (used >= share) {
        throw new WorkerError(
          "QUOTA_EXHAUSTED",
          workerCount === 1
            ? `${consumer} has used its ${quota} queries of epoch ${epoch}.`
            : `${consumer} has used this worker's share (${share} of ${quota}) of its queries in epoch ${epoch}.`,
          {
            hints: [
              `The quota is restored when epoch ${epoch} ends, at ${new Date(Number(epochEndsAt) * 1000).toISOString()}.`,
              ...(workerCount > 1 ? ["Another worker of this deployment may still serve its share."] : []),
            ],
            extra: {
              resetsAt: Number(epochEndsAt),
              epoch: epoch.toString(),
              quota: quota.toString(),
              used: store.usedNow(consumer, epoch).toString(),
              share: { workerIndex, workerCount, queries: share.toString() },
            },
          },
        );
      }
      release = reserve(consumer, epoch);

      if (account !== undefined) {
        const owed = () => (store.unsettled(consumer) + (reservedByConsumer.get(consumer) ?? 0n)) * fee;
        let available = availableOf(await account, nowSeconds);
        // A refusal is decided on the chain's latest state, never on what was kept.
        if (available < owed())
          available = availableOf(await deposits.account(consumer, head, { fresh: true }), nowSeconds);
        if (available < owed()) {
          throw new WorkerError(
            "DEPOSIT_INSUFFICIENT",
            `${consumer}'s deposit (${available} wei available) does not cover the fee of this query and of those not yet settled (${owed()} wei in all).`,
            {
              hints: ["Deposit more with UsageSettlement.deposit(consumer), then send the query again."],
              extra: { balance: available.toString(), owed: owed().toString(), feePerQuery: fee.toString() },
            },
          );
        }
      }

      // A kill switch seen during the checks refuses the query before anything is counted.
      if (signal.aborted)
        throw killSwitchError(String((signal.reason as WorkerError).extra.reason), { counted: false });
      const voucher: QueryVoucher = { ...message, signature: request.signature };
      // Counted before the model is invoked: from here on the query is spent, whatever the model does.
      // The replay check above holds: the nonce has been in flight here since it found nothing.
      const { used: counted } = await store.record(voucher, { checkedUnused: true });
      release();
      parameters.onCounted?.();
      const { result, answerHash } = await invokeModel(invoke, signal, consumer, nonce);
      const receipt = await signReceipt(bytesToHex(queryDigest), answerHash, epoch, counted, quota);
      // The last point at which the answer can still be withheld: a kill switch seen before it
      // refuses the query (counted, as the model ran).
      signal.throwIfAborted();
      return { result, usage: usageOf(quota, counted, epoch, epochEndsAt), receipt };
    } finally {
      release?.();
      inFlightNonces.delete(nonceKey);
    }
  }

  /**
   * Runs the model for a counted query. Whatever goes wrong in it, the consumer gets the same
   * MODEL_FAILED (the log keeps the cause); only the kill switch, which the consumer cannot cause,
   * says what it is.
   */
  async function invokeModel<T>(invoke: InvokeModel<T>, signal: AbortSignal, consumer: Address, nonce: bigint) {
    try {
      return await new Promise<{ result: T; answerHash: Hex }>((resolve, reject) => {
        signal.throwIfAborted();
        const onAbort = () => reject(signal.reason);
        signal.addEventListener("abort", onAbort, { once: true });
        invoke({ model, signal })
          .then(resolve, reject)
          .finally(() => signal.removeEventListener("abort", onAbort));
      });
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      logger.warn({ err: error, consumer, nonce: nonce.toString() }, "the model failed; the query is counted");
      throw new WorkerError("MODEL_FAILED", "The model failed to answer. The query was counted.", {
        hints: ["Sign a new query (a new nonce) to ask again; this one is spent."],
      });
    }
  }

  /** The model's answer, cut down to what the use needs; anything else is a failure of the model. */
  async function classify(input: string, signal: AbortSignal): Promise<ModelAnswer> {
    const answer = await model.classify(input, { signal });
    if (
      typeof answer?.label !== "string" ||
      answer.label.length === 0 ||
      answer.label.length > MAX_LABEL_LENGTH ||
      !SCORES.has(answer.score)
    ) {
      throw new WorkerError(
        "MODEL_ANSWER_INVALID",
        "The model answered outside its contract (a label and a coarse score).",
        { hints: ["Operators: the model adapter must return { label, score: low | medium | high }."] },
      );
    }
    return { label: answer.label, score: answer.score };
  }

  async function signReceipt(
    queryDigest: Hex,
    answerHash: Hex,
    epoch: bigint,
    used: bigint,
    quota: bigint,
  ): Promise<QueryReceipt> {
    const digest = receiptDigestBytes({ queryDigest, answerHash, modelHash, epoch, used, quota });
    const signature = parameters.receiptSigner
      ? parameters.receiptSigner.sign(ethMessageDigest(digest))
      : await walletClient.signMessage({ account: walletClient.account, message: { raw: digest } });
    return {
      version: 1,
      worker,
      queryDigest,
      answerHash,
      model: model.id,
      modelHash,
      epoch: epoch.toString(),
      used: used.toString(),
      quota: quota.toString(),
      digest: bytesToHex(digest),
      signature,
    };
  }

  async function quotaStatus(consumerAddress: string): Promise<QuotaStatus> {
    const view = parameters.policy.requireFreshPolicy();
    const consumer = getAddress(consumerAddress.toLowerCase());
    const { epoch, epochEndsAt } = epochInfo(view.epochs);
    const used = await store.used(consumer, epoch);
    return { consumer, ...usageOf(quotaOf(view.policy, consumer), used, epoch, epochEndsAt) };
  }

  return {
    query,
    serve,
    /** Cuts a model's answer down to a label and a coarse score, or throws. */
    classify,
    /** The model queries are answered by. */
    model,
    quota: quotaStatus,
    /** The worker address that signs receipts. */
    worker,
    /** Queries between their checks and their answer. */
    inFlight: () => controllers.size,
    close() {
      unsubscribe();
    },
  };
}

function revokedModelError(runId: Hex): WorkerError {
  return new WorkerError("MODEL_REVOKED", `The DAO revoked training run ${runId}, whose model this worker serves.`, {
    hints: ["Nothing was counted. Ask again once the worker serves a model of a run that is not revoked."],
    extra: { runId },
  });
}

function killSwitchError(reason: string, { counted }: { counted: boolean }): WorkerError {
  return new WorkerError("KILL_SWITCH_ENGAGED", `The kill switch is engaged: ${reason}`, {
    hints: [
      counted
        ? "The query was counted: the model had been invoked when the switch engaged."
        : "The query was not counted. Only a governance proposal can lift the switch.",
    ],
    extra: { reason },
  });
}

function uint64(value: string, field: string): bigint {
  const parsed = BigInt(value);
  if (parsed > maxUint64) {
    throw new WorkerError("VALIDATION_FAILED", `The ${field} is larger than a uint64.`, { extra: { field } });
  }
  return parsed;
}

async function chainRead<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (cause) {
    if (cause instanceof BaseError) throw cause;
    throw new WorkerError("CHAIN_UNAVAILABLE", "The worker could not read the consumer's state on chain.", {
      cause,
      hints: ["Retry later; the query was not counted."],
    });
  }
}

function createQueryMetrics(registry: Registry) {
  const existing = <T>(name: string) => registry.getSingleMetric(name) as T | undefined;
  return {
    queries:
      existing<Counter<"outcome">>("worker_queries_total") ??
      new Counter({
        name: "worker_queries_total",
        help: "Queries by outcome: served, or the error code they were refused with.",
        labelNames: ["outcome"] as const,
        registers: [registry],
      }),
    seconds:
      existing<Histogram>("worker_query_seconds") ??
      new Histogram({
        name: "worker_query_seconds",
        help: "Time to serve a query, checks, model and durable count included.",
        buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2],
        registers: [registry],
      }),
  };
}
