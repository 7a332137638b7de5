import { keccak_256 } from "@noble/hashes/sha3.js";
import { Counter, Histogram, type Registry } from "prom-client";
import {
  bytesToHex,
  getAddress,
  keccak256,
  maxUint256,
  maxUint64,
  toHex,
  zeroAddress,
  zeroHash,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { usageSettlementAbi } from "../abis.ts";
import { isConsumerSignature } from "../chain/consumerSignature.ts";
import { ethMessageDigest, recoverDigestSigner, sameAddress, type DigestSigner } from "../chain/signatures.ts";
import { createUsageHasher } from "../chain/typedData.ts";
import { BaseError } from "../internal/BaseError.ts";
import type { Logger } from "../internal/createLogger.ts";
import type { Metrics } from "../internal/createMetrics.ts";
import { isWorkerError, WorkerError } from "../internal/WorkerError.ts";
import type { Model, ModelAnswer } from "../model/Model.ts";
import type { PolicySync, PolicyView } from "../policy/createPolicySync.ts";
import { isWorker, quotaAt, type EpochSchedule } from "../policy/Policy.ts";
import type { QueryUsage, QuotaStatus } from "../api/consumerWire.ts";
import { availableOf, createDepositCache } from "./createDepositCache.ts";
import { createServedEpochs, type ServedEpochs } from "./createServedEpochs.ts";
import { noModelError } from "./createUnconfiguredModel.ts";
import type { LaneId, Reservation, UsageStore } from "./createUsageStore.ts";
import { answerHashOf, receiptDigestBytes, type QueryReceipt } from "./queryReceipt.ts";
import { workerShare } from "./workerShare.ts";

/** What a consumer signs for `POST /v1/queries`' input: keccak256 of its UTF-8 bytes. */
export function inputHashOf(input: string): Hex {
  const hash = keccak_256(Buffer.from(input, "utf8"));
  return `0x${Buffer.from(hash.buffer, hash.byteOffset, 32).toString("hex")}`;
}

/** A Usage voucher as a request carries it: decimal strings for the uint64 and uint256 fields. */
export type SignedVoucher = {
  epoch: string;
  total: string;
  maxFeePerQuery: string;
  /** Unix seconds. */
  deadline: number;
  signature: Hex;
};

/**
 * A query's authority, whatever route and authenticator carried it: who pays (`consumer`), in
 * which lane (`key`: absent or zero for the consumer's own wallet), for which input, and either a
 * signed Usage voucher (the consumer's or its session key's) or none (a bearer API key: the worker
 * counts the lane itself).
 */
export type QueryCredential = {
  consumer: string;
  key?: string | undefined;
  inputHash: Hex;
  voucher?: SignedVoucher | undefined;
  /**
   * Leave the receipt unsigned (`signature: "0x"`, `digest` zero, its other fields as ever): the
   * bearer path, whose point is to cost no curve operation, unless the client asks for a signed one.
   */
  unsignedReceipt?: boolean | undefined;
};

/**
 * Authorises queries of key lanes (key not zero): bearer API keys and session keys. The key
 * registry provides it; a worker without one refuses key lanes with KEY_UNKNOWN.
 */
export type KeyLaneAuthority = {
  /**
   * Checks that the key may be charged in this lane now: its grant is registered here, for this
   * worker, neither expired nor revoked, and, for a session key's voucher, that the key signed
   * `usageDigest` (ECDSA) with the grant's maximum fee. Throws the refusal (KEY_*,
   * SIGNATURE_INVALID). Resolves to the grant's maximum fee (a bearer lane's fee bound) and the
   * cap check, called once the query's total is reserved, with nothing awaited between: it throws
   * KEY_CAP_REACHED when what is settled on chain for the key and what is counted or held here and
   * not yet settled pass the grant's `maxQueries`.
   */
  authorise(request: {
    consumer: Address;
    key: Address;
    /** The voucher's digest and signature, for a session key; absent for a bearer key. */
    usageDigest?: Uint8Array;
    signature?: Hex;
    /** The voucher's signed maximum fee, for a session key. */
    voucherMaxFeePerQuery?: bigint;
    nowSeconds: bigint;
    view: PolicyView;
  }): Promise<{ maxFeePerQuery: bigint; checkCap(): void }>;
};

/**
 * Runs the model for a query that passed every check and is counted. It gets a signal that aborts
 * when the kill switch engages, and returns what it produced with the hash the receipt binds.
 */
export type InvokeModel<T> = (context: {
  model: Model;
  signal: AbortSignal;
}) => Promise<{ result: T; answerHash: Hex }>;

export type Served<T> = { result: T; usage: QueryUsage; receipt: QueryReceipt };
export type QueryResponse = { answer: ModelAnswer; usage: QueryUsage; receipt: QueryReceipt };

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
  /** Authorises key lanes (API and session keys); without it they are refused. */
  keys?: KeyLaneAuthority;
  workerIndex?: number;
  workerCount?: number;
  /** Milliseconds since the epoch; injected by tests. */
  now?: () => number;
  /**
   * The epochs served, shared with the settler: an epoch it closed is not served any more, so a
   * lane it settled takes no second entry. Default: the epochs by `now` alone (no settler).
   */
  servedEpochs?: ServedEpochs;
  logger: Logger;
  metrics: Metrics;
  /** Called after each query is counted. */
  onCounted?: () => void;
};

export type QueryService = ReturnType<typeof createQueryService>;

const SCORES = new Set(["low", "medium", "high"]);
/** Consumers whose code presence is kept between head blocks; the oldest is forgotten past it. */
const MAX_KEPT_ACCOUNTS = 10_000;
const MAX_LABEL_LENGTH = 64;

/**
 * Serves consumers' queries within the DAO's policy, each under a cumulative Usage voucher: the
 * consumer (or its key) authorises this worker to charge up to `total` queries of its lane
 * (consumer, key, worker, epoch), at most `maxFeePerQuery` each, and the worker settles only the
 * lane's highest total. Each query is checked, in this order, each check with its own code:
 *
 *  1. the policy is fresh (POLICY_STALE), the kill switch is off (KILL_SWITCH_ENGAGED), there is a
 *     model (MODEL_UNAVAILABLE) that governance has not revoked (MODEL_REVOKED), this worker is
 *     authorised (WORKER_NOT_AUTHORISED);
 *  2. the voucher's signature is the consumer's, as UsageSettlement decides it: ECDSA first, then
 *     ERC-1271's `isValidSignature` on the consumer at the head block (SIGNATURE_INVALID); on a
 *     key lane, the key's grant and signature (KEY_*, SIGNATURE_INVALID; KeyLaneAuthority);
 *  3. the deadline has not passed (SIGNATURE_EXPIRED), the epoch is the current one (WRONG_EPOCH),
 *     the policy's fee is not above the signed maximum (FEE_ABOVE_MAXIMUM);
 *  4. the total is not served in the lane, nor held by a query in flight (TOTAL_REPLAYED);
 *  5. the consumer has a quota in the epoch (`quotaAt`: a voted quota, else its tier's; NO_QUOTA),
 *     and the sum of its lanes' highest totals here stays within this worker's share of it
 *     (QUOTA_EXHAUSTED); a key's cap is not reached (KEY_CAP_REACHED);
 *  6. the deposit pays the fees of this query and of everything counted and not yet settled, a
 *     requested withdrawal counting as gone (DEPOSIT_INSUFFICIENT).
 *
 * A query that passed them is counted durably (fsync'd: its total spent, the lane's charge raised)
 * before the model is invoked, and stays counted whatever the model then does. A model that fails,
 * times out or answers outside its contract gets the consumer one and the same refusal,
 * MODEL_FAILED, with no detail of the cause (operators find it in the log): a failure that cost
 * nothing could be replayed without limit with one voucher, and a failure whose text varied would
 * tell a prompt-injected model's verdict through the error. The model sees an AbortSignal that
 * fires when the kill switch engages; a query it stops is refused, counted.
 */
export function createQueryService(parameters: CreateQueryServiceParameters) {
  const { client, walletClient, store, model, logger } = parameters;
  const workerIndex = parameters.workerIndex ?? 0;
  const workerCount = parameters.workerCount ?? 1;
  workerShare({ quota: 0n, workerIndex, workerCount });
  const now = parameters.now ?? Date.now;
  const servedEpochs = parameters.servedEpochs ?? createServedEpochs(now);
  const worker = getAddress(walletClient.account.address);
  if (parameters.receiptSigner !== undefined && !sameAddress(parameters.receiptSigner.address, worker)) {
    throw new WorkerError("CONFIG_INVALID", "The receipt signer's key is not the worker account's key.", {
      hints: ["Give the query service the key of the wallet client's account."],
    });
  }
  const hashUsage = createUsageHasher(parameters.chainId, parameters.usageSettlement);
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
  const metrics = createQueryMetrics(parameters.metrics.registry);
  /**
   * Whether each consumer has code, read once per head block (as deposits are): an EOA's signature
   * that ECDSA refuses is then refused without a chain read, however many are sent.
   */
  const codes = new Map<Address, { head: string; hasCode: Promise<boolean> }>();
  function accountHasCode(consumer: Address, head: string, blockNumber: bigint): Promise<boolean> {
    const kept = codes.get(consumer);
    if (kept !== undefined && kept.head === head) return kept.hasCode;
    const hasCode = chainRead(async () => {
      const code = await client.getCode({ address: consumer, blockNumber });
      return code !== undefined && code !== "0x";
    });
    codes.delete(consumer);
    if (codes.size >= MAX_KEPT_ACCOUNTS) codes.delete(codes.keys().next().value!);
    codes.set(consumer, { head, hasCode });
    hasCode.catch(() => codes.delete(consumer));
    return hasCode;
  }
  const controllers = new Set<AbortController>();

  const unsubscribe = parameters.policy.onKillSwitch((change) => {
    if (!change.engaged) return;
    const reason = killSwitchError(change.killSwitch.reason, { counted: true });
    if (controllers.size > 0) logger.warn({ inFlight: controllers.size }, "Kill switch: refusing queries in flight.");
    for (const controller of controllers) controller.abort(reason);
  });

  function epochInfo(epochs: EpochSchedule) {
    const nowSeconds = BigInt(Math.floor(now() / 1000));
    const epoch = servedEpochs.current(epochs);
    const epochEndsAt = epochs.epochGenesis + (epoch + 1n) * epochs.epochLength;
    return { nowSeconds, epoch, epochEndsAt };
  }

  function usageOf(quota: bigint, lane: LaneId, epochEndsAt: bigint): QueryUsage {
    const share = workerShare({ quota, workerIndex, workerCount });
    const used = store.charged(lane.consumer, lane.epoch);
    return {
      epoch: lane.epoch.toString(),
      epochEndsAt: Number(epochEndsAt),
      quota: quota.toString(),
      used: used.toString(),
      remaining: (share > used ? share - used : 0n).toString(),
      share: { workerIndex, workerCount, queries: share.toString() },
      nextTotal: store.nextTotal(lane).toString(),
    };
  }

  /** `POST /v1/queries`: the embedded use, a label and a coarse score for the input (whose hash `credential` binds). */
  async function query(credential: QueryCredential, input: string): Promise<QueryResponse> {
    const served = await serve(credential, async ({ signal }) => {
      const answer = await classify(input, signal);
      return { result: answer, answerHash: answerHashOf(answer) };
    });
    return { answer: served.result, usage: served.usage, receipt: served.receipt };
  }

  /** Checks and counts a query, runs `invoke`, and signs the receipt of what it produced. */
  async function serve<T>(credential: QueryCredential, invoke: InvokeModel<T>): Promise<Served<T>> {
    const started = performance.now();
    try {
      const response = await serveQuery(credential, invoke);
      metrics.queries.inc({ outcome: "served" });
      metrics.seconds.observe((performance.now() - started) / 1000);
      return response;
    } catch (error) {
      metrics.queries.inc({ outcome: isWorkerError(error) ? error.code : "INTERNAL" });
      throw error;
    }
  }

  async function serveQuery<T>(credential: QueryCredential, invoke: InvokeModel<T>): Promise<Served<T>> {
    const view: PolicyView = parameters.policy.requireFreshPolicy();
    const { policy } = view;
    if (policy.killSwitch.engaged) throw killSwitchError(policy.killSwitch.reason, { counted: false });
    if (model.unconfigured) throw noModelError();
    if (model.runId !== undefined && policy.trainingRuns.get(model.runId)?.revoked)
      throw revokedModelError(model.runId);
    if (!isWorker(policy, worker)) {
      throw new WorkerError("WORKER_NOT_AUTHORISED", `This worker (${worker}) is not authorised by the DAO.`, {
        hints: ["Send the query to an authorised worker (PolicyRegistry.isWorker)."],
      });
    }
    // Registered before anything is awaited, so a kill switch seen from here on refuses this query.
    const controller = new AbortController();
    controllers.add(controller);
    try {
      return await serveChecked(credential, invoke, view, controller.signal);
    } finally {
      controllers.delete(controller);
    }
  }

  async function serveChecked<T>(
    credential: QueryCredential,
    invoke: InvokeModel<T>,
    view: PolicyView,
    signal: AbortSignal,
  ): Promise<Served<T>> {
    const { policy } = view;
    // Any letter case is accepted: the signature, not a checksum, says whose query it is.
    const consumer = getAddress(credential.consumer.toLowerCase());
    const key = credential.key === undefined ? zeroAddress : getAddress(credential.key.toLowerCase());
    const { nowSeconds, epoch: currentEpoch, epochEndsAt } = epochInfo(view.epochs);
    const head = view.head.blockHash ?? String(view.head.blockNumber);
    const fee = policy.feePerQuery;
    // The deposit is read once per head block (createDepositCache), while the checks run.
    const account = fee > 0n ? deposits.account(consumer, head) : undefined;
    account?.catch(() => undefined);

    const signed = credential.voucher === undefined ? undefined : parseVoucher(credential.voucher);
    const epoch = signed?.epoch ?? currentEpoch;
    let usageDigest: Uint8Array | undefined;
    let keyLimits: { maxFeePerQuery: bigint; checkCap(): void } | undefined;
    if (signed !== undefined) {
      usageDigest = hashUsage({ consumer, key, worker, inputHash: credential.inputHash, ...signed });
    }
    if (key === zeroAddress) {
      if (signed === undefined || usageDigest === undefined) {
        throw new WorkerError("AUTHENTICATION_REQUIRED", "The request carries no signed Usage voucher.", {
          hints: ["Sign a Usage voucher as GET /v1/eip712 describes, or use an API key (Authorization: Bearer)."],
        });
      }
      // ECDSA here first: the common case costs no chain read. Only a consumer with code (a Safe,
      // a smart account) is asked with ERC-1271, as the contract would ask it.
      const valid =
        isEcdsaSigner(usageDigest, signed.signature, consumer) ||
        ((await accountHasCode(consumer, head, view.head.blockNumber)) &&
          (await isConsumerSignature({
            client,
            consumer,
            digest: usageDigest,
            signature: signed.signature,
            blockNumber: view.head.blockNumber,
          })));
      if (!valid) {
        throw new WorkerError("SIGNATURE_INVALID", "The signature is not the consumer's over this Usage voucher.", {
          hints: [
            "Sign the Usage exactly as GET /v1/eip712 describes, with worker = this worker's address (GET /v1/quota), over keccak256 of the UTF-8 input (on the OpenAI-compatible routes, chatInputHash of the request body), with the consumer's key or its smart account, for this chain and UsageSettlement.",
          ],
        });
      }
    } else {
      if (parameters.keys === undefined) {
        throw new WorkerError("KEY_UNKNOWN", `This worker accepts no keys; ${key} is not one it knows.`, {
          hints: ["Sign the request with the consumer's wallet."],
        });
      }
      keyLimits = await parameters.keys.authorise({
        consumer,
        key,
        ...(signed === undefined || usageDigest === undefined
          ? {}
          : { usageDigest, signature: signed.signature, voucherMaxFeePerQuery: signed.maxFeePerQuery }),
        nowSeconds,
        view,
      });
    }
    if (signed !== undefined && signed.deadline < nowSeconds) {
      throw new WorkerError(
        "SIGNATURE_EXPIRED",
        `The voucher expired at ${new Date(Number(signed.deadline) * 1000).toISOString()}.`,
        { hints: ["Sign the voucher again with a later deadline."] },
      );
    }
    const requireCurrentEpoch = () => {
      const { epoch: current, epochEndsAt: endsAt } = epochInfo(view.epochs);
      if (epoch === current) return;
      const extra = { currentEpoch: current.toString(), epochEndsAt: Number(endsAt) };
      if (signed === undefined) {
        // A bearer query took the epoch current when it arrived, which ended while it was checked.
        throw new WorkerError("WRONG_EPOCH", `Epoch ${epoch} ended while the query was checked.`, {
          hints: [`Send the query again: it is served in epoch ${current}.`],
          extra,
        });
      }
      throw new WorkerError(
        "WRONG_EPOCH",
        `The voucher is signed for epoch ${epoch}; the current epoch is ${current}.`,
        {
          hints: [`Sign the voucher again for epoch ${current} (GET /v1/quota reports it, with nextTotal).`],
          extra,
        },
      );
    };
    if (epoch !== currentEpoch) requireCurrentEpoch();
    const maxFeePerQuery = signed?.maxFeePerQuery ?? keyLimits!.maxFeePerQuery;
    if (fee > maxFeePerQuery || (keyLimits !== undefined && fee > keyLimits.maxFeePerQuery)) {
      throw new WorkerError(
        "FEE_ABOVE_MAXIMUM",
        `The fee per query is ${fee} wei, above the ${maxFeePerQuery} wei the consumer signed as its maximum.`,
        {
          hints: [
            "Sign again with a maxFeePerQuery at least the fee (GET /v1/quota reports feePerQuery), if you accept it.",
          ],
          extra: { feePerQuery: fee.toString(), maxFeePerQuery: maxFeePerQuery.toString() },
        },
      );
    }

    const lane: LaneId = { consumer, key, epoch };
    await store.load(consumer, epoch);
    // From here to the reservation nothing is awaited: the checks and the reservation are one step.
    // The epoch is checked again, as it may have ended (or the settler closed it) while the checks
    // above awaited: a lane's epoch, once closed, takes no new total.
    requireCurrentEpoch();
    const reservation: Reservation = signed === undefined ? store.reserveNext(lane) : store.reserve(lane, signed.total);
    try {
      const quota = quotaAt(policy, consumer, epoch);
      if (quota === 0n) {
        throw new WorkerError("NO_QUOTA", `${consumer} has no query quota in epoch ${epoch}.`, {
          hints: ["Join an access tier (PolicyRegistry.joinTier), or ask the DAO for a quota through a proposal."],
        });
      }
      const share = workerShare({ quota, workerIndex, workerCount });
      const charged = store.charged(consumer, epoch);
      if (charged > share) {
        const before = charged - (reservation.total - (store.lane(lane)?.charged ?? 0n));
        throw new WorkerError(
          "QUOTA_EXHAUSTED",
          workerCount === 1
            ? `Total ${reservation.total} would take ${consumer} past its ${quota} queries of epoch ${epoch}.`
            : `Total ${reservation.total} would take ${consumer} past this worker's share (${share} of ${quota}) of its queries in epoch ${epoch}.`,
          {
            hints: [
              `The quota is restored when epoch ${epoch} ends, at ${new Date(Number(epochEndsAt) * 1000).toISOString()}.`,
              "Sign the lane's next total (GET /v1/quota's nextTotal): the charge is the highest total served.",
              ...(workerCount > 1 ? ["Another worker of this deployment may still serve its share."] : []),
            ],
            extra: {
              resetsAt: Number(epochEndsAt),
              epoch: epoch.toString(),
              quota: quota.toString(),
              used: (before > 0n ? before : 0n).toString(),
              share: { workerIndex, workerCount, queries: share.toString() },
            },
          },
        );
      }
      keyLimits?.checkCap();

      if (account !== undefined) {
        const owed = () => store.unsettled(consumer) * fee;
        let available = availableOf(await account);
        // A refusal is decided on the chain's latest state, never on what was kept.
        if (available < owed()) available = availableOf(await deposits.account(consumer, head, { fresh: true }));
        if (available < owed()) {
          throw new WorkerError(
            "DEPOSIT_INSUFFICIENT",
            `${consumer}'s deposit (${available} wei available, a requested withdrawal counting as gone) does not cover the fees of this query and of those not yet settled (${owed()} wei in all).`,
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
      // Counted before the model is invoked: from here on the query is spent, whatever the model does.
      await store.record(reservation, {
        maxFeePerQuery,
        inputHash: credential.inputHash,
        deadline: signed?.deadline ?? 0n,
        signature: signed?.signature,
      });
      parameters.onCounted?.();
      const { result, answerHash } = await invokeModel(invoke, signal, lane, reservation.total);
      const receipt = await signReceipt({
        usageDigest: usageDigest === undefined ? zeroHash : bytesToHex(usageDigest),
        inputHash: credential.inputHash,
        answerHash,
        lane,
        total: reservation.total,
        quota,
        unsigned: credential.unsignedReceipt === true,
      });
      // The last point at which the answer can still be withheld: a kill switch seen before it
      // refuses the query (counted, as the model ran).
      signal.throwIfAborted();
      return { result, usage: usageOf(quota, lane, epochEndsAt), receipt };
    } finally {
      reservation.release();
    }
  }

  /**
   * Runs the model for a counted query. Whatever goes wrong in it, the consumer gets the same
   * MODEL_FAILED (the log keeps the cause); only the kill switch, which the consumer cannot cause,
   * says what it is.
   */
  async function invokeModel<T>(invoke: InvokeModel<T>, signal: AbortSignal, lane: LaneId, total: bigint) {
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
      logger.warn(
        { err: error, consumer: lane.consumer, key: lane.key, total: total.toString() },
        "the model failed; the query is counted",
      );
      throw new WorkerError("MODEL_FAILED", "The model failed to answer. The query was counted.", {
        hints: ["Sign the lane's next total to ask again; this one is spent."],
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

  async function signReceipt(fields: {
    usageDigest: Hex;
    inputHash: Hex;
    answerHash: Hex;
    lane: LaneId;
    total: bigint;
    quota: bigint;
    unsigned: boolean;
  }): Promise<QueryReceipt> {
    const { lane } = fields;
    const signedFields = { ...fields, modelHash, consumer: lane.consumer, key: lane.key, epoch: lane.epoch };
    // An unsigned receipt has nothing to bind: its digest (a keccak256 over ten words, the dearest
    // step left on the bearer path) is zero, like its signature.
    const digest = fields.unsigned ? undefined : receiptDigestBytes(signedFields);
    const signature: Hex =
      digest === undefined
        ? "0x"
        : parameters.receiptSigner
          ? parameters.receiptSigner.sign(ethMessageDigest(digest))
          : await walletClient.signMessage({ account: walletClient.account, message: { raw: digest } });
    return {
      version: 2,
      worker,
      usageDigest: fields.usageDigest,
      inputHash: fields.inputHash,
      answerHash: fields.answerHash,
      model: model.id,
      modelHash,
      consumer: lane.consumer,
      key: lane.key,
      epoch: lane.epoch.toString(),
      total: fields.total.toString(),
      quota: fields.quota.toString(),
      digest: digest === undefined ? zeroHash : bytesToHex(digest),
      signature,
    };
  }

  /** `GET /v1/quota`: the consumer's usage here in the current epoch, the fee, and the lane's next total. */
  async function quotaStatus(consumerAddress: string, keyAddress?: string): Promise<QuotaStatus> {
    const view = parameters.policy.requireFreshPolicy();
    const consumer = getAddress(consumerAddress.toLowerCase());
    const key = keyAddress === undefined ? zeroAddress : getAddress(keyAddress.toLowerCase());
    const { epoch, epochEndsAt } = epochInfo(view.epochs);
    await store.load(consumer, epoch);
    return {
      consumer,
      worker,
      feePerQuery: view.policy.feePerQuery.toString(),
      ...usageOf(quotaAt(view.policy, consumer, epoch), { consumer, key, epoch }, epochEndsAt),
    };
  }

  return {
    query,
    serve,
    /** Cuts a model's answer down to a label and a coarse score, or throws. */
    classify,
    /** The model queries are answered by. */
    model,
    quota: quotaStatus,
    /** The worker address that signs receipts and that vouchers name. */
    worker,
    /** Queries between their checks and their answer. */
    inFlight: () => controllers.size,
    close() {
      unsubscribe();
    },
  };
}

/** Whether `signature` is `signer`'s low-s ECDSA signature of `digest` (any other shape: no). */
function isEcdsaSigner(digest: Uint8Array, signature: Hex, signer: Address): boolean {
  try {
    return sameAddress(recoverDigestSigner(digest, signature), signer);
  } catch {
    return false;
  }
}

/** A voucher's numbers, range-checked against their EIP-712 types (the route checked their form). */
function parseVoucher(voucher: SignedVoucher) {
  const epoch = uint(voucher.epoch, "epoch", maxUint64);
  const total = uint(voucher.total, "total", maxUint64);
  if (total === 0n) {
    throw new WorkerError("VALIDATION_FAILED", "The total is 0; a lane's totals start at 1.", {
      extra: { field: "total" },
    });
  }
  return {
    epoch,
    total,
    maxFeePerQuery: uint(voucher.maxFeePerQuery, "maxFeePerQuery", maxUint256),
    deadline: uint(String(voucher.deadline), "deadline", maxUint64),
    signature: voucher.signature,
  };
}

function uint(value: string, field: string, max: bigint): bigint {
  const parsed = BigInt(value);
  if (parsed > max) {
    throw new WorkerError("VALIDATION_FAILED", `The ${field} is out of range of its EIP-712 type.`, {
      extra: { field },
    });
  }
  return parsed;
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
