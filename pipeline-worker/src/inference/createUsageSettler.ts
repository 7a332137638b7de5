import { Counter, Gauge, type Registry } from "prom-client";
import {
  getContract,
  parseAbi,
  parseEventLogs,
  TransactionNotFoundError,
  TransactionReceiptNotFoundError,
  zeroHash,
  type Account,
  type Address,
  type Chain,
  type ContractFunctionArgs,
  type Hex,
  type PublicClient,
  type TransactionReceipt,
  type Transport,
  type WalletClient,
} from "viem";
import { policyRegistryAbi, usageSettlementAbi } from "../abis.ts";
import { revertErrorName } from "../chain/revertErrorName.ts";
import { sameAddress } from "../chain/signatures.ts";
import type { Logger } from "../internal/createLogger.ts";
import type { Metrics } from "../internal/createMetrics.ts";
import type { ServedEpochs } from "./createServedEpochs.ts";
import type { LaneId, LaneRecord, UsageStore } from "./createUsageStore.ts";

/**
 * How a key lane (an API or session key's) is settled: the `settleKeys` entry of its latest
 * count or voucher, with the grant it is settled against. The key registry provides it; without
 * it, key lanes wait.
 */
export type KeySettlementEntries = {
  /** The lane's `KeySettlement` (IUsageSettlement), or undefined when its grant is unknown here. */
  entryOf(record: LaneRecord): KeySettlement | undefined;
};

/** One entry of `settleKeys`, as the contract takes it. */
export type KeySettlement = ContractFunctionArgs<typeof usageSettlementAbi, "nonpayable", "settleKeys">[0][number];
/** One entry of `settle` (a consumer's own voucher), as the contract takes it. */
type VoucherSettlement = ContractFunctionArgs<typeof usageSettlementAbi, "nonpayable", "settle">[0][number];

export type CreateUsageSettlerParameters = {
  publicClient: PublicClient;
  walletClient: WalletClient<Transport, Chain, Account>;
  usageSettlement: Address;
  policyRegistry: Address;
  store: UsageStore;
  keys?: KeySettlementEntries;
  /**
   * The epochs the query service serves: the settler closes those the chain has passed before it
   * settles their lanes, so that no query is counted in a lane after its one entry.
   */
  servedEpochs?: ServedEpochs;
  logger: Logger;
  metrics: Metrics;
  /** Most lanes per settlement transaction (the worker's `inference.settlementBatchSize`). */
  batchSize: number;
  /**
   * Blocks a settlement transaction must have before its lanes count as settled. Default 0: at
   * once. With more, a reorg that drops the transaction leaves them to be sent again.
   */
  confirmations?: number;
  /** A lane whose settlement window closes within this share of the window is warned about. Default 0.25. */
  warnWithinWindowShare?: number;
};

export type SettlementResult = {
  /** Lanes whose settlement this flush saw mined (or found already settled on chain). */
  settled: number;
  /** Lanes the contract refuses for good; the store keeps them, marked with the reason. */
  dropped: number;
  /** Lanes left for a later flush (epoch under way, deposit short, transaction pending or reverted). */
  waiting: number;
  transactions: Hex[];
};

export type FlushOptions = {
  /**
   * Settle the lanes of the epoch under way too. By default a lane is settled once its epoch has
   * ended, so that it takes one entry whatever the number of its queries; a lane flagged by
   * `urgent` (a cancellation, a withdrawal request, a revoked key) is settled at once either way.
   */
  all?: boolean;
};

/** Gas per entry (and a margin) for a check made with a gas limit instead of an estimate. */
const GAS_MARGIN = 50_000n;
/** Lanes' worth of batches a flush reads from the store at a time. */
const BATCHES_PER_PAGE = 4;
/** Reads of `settledTotal` in flight at once. */
const CHAIN_READS_IN_FLIGHT = 16;

/**
 * Settles the lanes the worker served, each with one entry: its latest voucher (`settle`) or, for
 * an API or session key, its count or voucher with the key's grant (`settleKeys`). Lanes go
 * oldest epoch first, in batches; a lane is settled once its epoch has ended (one entry for all
 * its queries), within the epoch's settlement window (a lane close to the window's end is logged
 * as a warning; one whose window closed is dropped with the reason), and at once when the
 * consumer cancels vouchers, requests a withdrawal or revokes a key (`urgent`). Fees accrue per
 * epoch and per the run whose model the worker declared it serves (`serveRun`); the settler
 * sweeps each (epoch, run) it settled once the epoch's window closed: a run's fees to the
 * contributions its model learned from (`sweepRunFees`, RunRewards), run zero's to the epoch's
 * reward pool (`sweepFees`). The run is read on chain at each flush: the worker declares it only
 * at start, after settling what it served before (declareServedRun.ts).
 *
 * Crash-safe through the usage store: a lane counts as settled only once its total is seen settled
 * on chain. Before a lane that was sent before is sent again, its `settledTotal` is read on chain,
 * so one whose transaction landed before a crash is marked settled, never sent twice; one whose
 * transaction is still pending is left alone until it is mined or forgotten.
 *
 * `settle` is all or nothing and works through a batch in order, so a batch that would revert has
 * a longest prefix that would not: the settler finds it by bisection, sends it, and deals with the
 * entry after it on its own. Entries the contract refuses for good (a signature it rejects, an
 * expired voucher or key, a closed window, a quota or cap it would exceed) are dropped and
 * logged; others wait for a later flush (a deposit too small, an epoch the chain's clock has not
 * reached); a worker no longer authorised pauses the whole flush.
 */
export function createUsageSettler(parameters: CreateUsageSettlerParameters) {
  const { publicClient, walletClient, store, logger, batchSize } = parameters;
  const worker = walletClient.account.address;
  const pageSize = batchSize * BATCHES_PER_PAGE;
  const confirmations = BigInt(parameters.confirmations ?? 0);
  const warnShare = parameters.warnWithinWindowShare ?? 0.25;
  const metrics = createSettlementMetrics(parameters.metrics.registry);
  let running: Promise<SettlementResult> | undefined;
  /** Consumers (lower-case) whose lanes settle at the next flush, whatever their epoch. */
  const urgent = new Set<string>();
  /** (epoch, run) pairs this worker settled in, whose fees to sweep once the epoch's window closes. */
  const toSweep = new Map<string, { epoch: bigint; run: Hex }>();
  /** The run this flush's settlements accrue to, as UsageSettlement reads it (zero: none). */
  let servedRun: Hex = zeroHash;
  let terms: Promise<{ epochLength: bigint; epochGenesis: bigint; window: bigint }> | undefined;

  const settlement = getContract({
    address: parameters.usageSettlement,
    abi: usageSettlementAbi,
    client: { public: publicClient, wallet: walletClient },
  });
  const registry = getContract({ address: parameters.policyRegistry, abi: policyRegistryAbi, client: publicClient });

  /** The epoch schedule and the settlement window: immutable, read once. */
  function settlementTerms() {
    terms ??= Promise.all([
      registry.read.epochLength(),
      registry.read.epochGenesis(),
      settlement.read.settlementWindow(),
    ]).then(([epochLength, epochGenesis, window]) => ({ epochLength, epochGenesis, window }));
    terms.catch(() => (terms = undefined));
    return terms;
  }

  type Method = "settle" | "settleKeys";
  type Entry = { record: LaneRecord } & (
    { method: "settle"; arg: VoucherSettlement } | { method: "settleKeys"; arg: KeySettlement }
  );

  function entryOf(record: LaneRecord): Entry | undefined {
    const voucher = record.voucher!;
    if (sameAddress(record.lane.key, "0x0000000000000000000000000000000000000000")) {
      return {
        record,
        method: "settle",
        arg: {
          consumer: voucher.consumer,
          epoch: voucher.epoch,
          total: voucher.total,
          maxFeePerQuery: voucher.maxFeePerQuery,
          inputHash: voucher.inputHash,
          deadline: voucher.deadline,
          // Only bearer lanes lack a signature, and they are key lanes, never this one.
          signature: voucher.signature!,
        },
      };
    }
    const arg = parameters.keys?.entryOf(record);
    return arg === undefined ? undefined : { record, method: "settleKeys", arg };
  }

  /** The settlement transaction of `entries`, all of the one `method`, to simulate, estimate or send. */
  function transactionOf(method: Method, entries: readonly Entry[]) {
    // Simulated and estimated from the worker's address; sent with the wallet's account and chain.
    const from = { account: walletClient.account.address };
    const vouchers = entries.flatMap((entry) => (entry.method === "settle" ? [entry.arg] : []));
    const keys = entries.flatMap((entry) => (entry.method === "settleKeys" ? [entry.arg] : []));
    return {
      simulate: (gas: bigint) =>
        method === "settle"
          ? settlement.simulate.settle([vouchers], { ...from, gas })
          : settlement.simulate.settleKeys([keys], { ...from, gas }),
      estimateGas: () =>
        method === "settle"
          ? settlement.estimateGas.settle([vouchers], from)
          : settlement.estimateGas.settleKeys([keys], from),
      write: (gas: bigint | undefined) =>
        method === "settle"
          ? settlement.write.settle([vouchers], { gas })
          : settlement.write.settleKeys([keys], { gas }),
    };
  }

  // Gas per entry in the last estimate. A node's eth_estimateGas runs the call over and over, so
  // once a batch has been estimated the next ones are checked by one call with a gas limit from
  // this figure and a margin: the call passing proves the limit enough. A call that fails is not
  // read (nodes word an out-of-gas differently); the estimate then says whether it reverts and why.
  const gasPerEntry = new Map<Method, bigint>();

  /** The gas to send the entries with, or the contract error they would revert with. */
  async function check(method: Method, entries: readonly Entry[]): Promise<{ gas: bigint } | { error: string }> {
    const known = gasPerEntry.get(method);
    if (known !== undefined) {
      const gas = (known * BigInt(entries.length) * 3n) / 2n + GAS_MARGIN;
      try {
        await transactionOf(method, entries).simulate(gas);
        return { gas };
      } catch {
        // Out of gas at that limit, a revert, or the node failing: the estimate below tells which.
      }
    }
    try {
      const gas = await transactionOf(method, entries).estimateGas();
      gasPerEntry.set(method, gas / BigInt(entries.length));
      // A margin, since the state may move between the estimate and the block; unused gas is not paid.
      return { gas: (gas * 6n) / 5n };
    } catch (error) {
      const name = revertErrorName(error);
      if (name === undefined) throw error;
      return { error: name };
    }
  }

  /** Whether a submitted transaction may still be mined: known to the node but without a receipt. */
  async function stillPending(hash: Hex): Promise<boolean> {
    try {
      await publicClient.getTransactionReceipt({ hash });
      return false;
    } catch (error) {
      if (!(error instanceof TransactionReceiptNotFoundError)) throw error;
    }
    try {
      await publicClient.getTransaction({ hash });
      return true;
    } catch (error) {
      if (error instanceof TransactionNotFoundError) return false;
      throw error;
    }
  }

  /** Whether the transaction is mined fewer than `confirmations` blocks deep. */
  async function unconfirmed(hash: Hex | undefined): Promise<boolean> {
    if (confirmations === 0n || hash === undefined) return false;
    try {
      const receipt = await publicClient.getTransactionReceipt({ hash });
      const head = await publicClient.getBlockNumber({ cacheTime: 0 });
      return head - receipt.blockNumber < confirmations;
    } catch (error) {
      if (error instanceof TransactionReceiptNotFoundError) return false;
      throw error;
    }
  }

  /** The number of leading entries the contract accepts together, found by bisection. */
  async function longestPassingPrefix(method: Method, entries: readonly Entry[]): Promise<number> {
    // A prefix fails if any entry in it fails after those before it, so passing is monotone.
    let passing = 0;
    let failing = entries.length;
    while (failing - passing > 1) {
      const middle = Math.floor((passing + failing) / 2);
      if ("gas" in (await check(method, entries.slice(0, middle)))) passing = middle;
      else failing = middle;
    }
    return passing;
  }

  /** Fees charged per lane in a settlement transaction, from its UsageSettled events. */
  function feesByLane(receipt: TransactionReceipt): Map<string, bigint> {
    const fees = new Map<string, bigint>();
    const logs = parseEventLogs({ abi: usageSettlementAbi, logs: receipt.logs, eventName: "UsageSettled" });
    for (const log of logs) {
      const name = laneName(log.args);
      fees.set(name, (fees.get(name) ?? 0n) + log.args.fees);
    }
    return fees;
  }

  async function send(method: Method, batch: readonly Entry[], result: SettlementResult, gas?: bigint) {
    const hash = await transactionOf(method, batch).write(gas);
    const totals = batch.map(({ record }) => ({ lane: record.lane, total: record.voucher!.total }));
    await store.markSubmitted(totals, hash);
    result.transactions.push(hash);
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") {
      logger.warn({ transactionHash: hash }, "settlement transaction reverted; will retry");
      result.waiting += batch.length;
      return;
    }
    // Mined but not yet confirmed: a later flush marks them settled once the block is deep enough.
    if (confirmations === 0n) {
      const fees = feesByLane(receipt);
      await store.markSettled(
        totals.map((entry) => ({ ...entry, paidWei: fees.get(laneName(entry.lane)) ?? 0n })),
        hash,
      );
    }
    for (const { record } of batch) {
      toSweep.set(`${record.lane.epoch}:${servedRun}`, { epoch: record.lane.epoch, run: servedRun });
    }
    result.settled += batch.length;
    metrics.settled.inc(batch.length);
    logger.info(
      { transactionHash: hash, method, lanes: batch.length, gasUsed: receipt.gasUsed.toString() },
      "usage settled on chain",
    );
  }

  const settledOnChain = (lane: LaneId) => settlement.read.settledTotal([lane.consumer, lane.key, worker, lane.epoch]);

  async function flushOnce(options: FlushOptions): Promise<SettlementResult> {
    const result: SettlementResult = { settled: 0, dropped: 0, waiting: 0, transactions: [] };
    const flagged = new Set(urgent);
    urgent.clear();
    let page = await store.listUnsettled({ limit: pageSize });
    const { epochLength, epochGenesis, window } = await settlementTerms();
    if (page.length > 0) servedRun = await settlement.read.servedRun([worker]);
    const latest = await publicClient.getBlock({ blockTag: "latest" });
    const chainTime = latest.timestamp;
    const chainEpoch = chainTime < epochGenesis ? 0n : (chainTime - epochGenesis) / epochLength;
    const epochEnd = (epoch: bigint) => epochGenesis + (epoch + 1n) * epochLength;
    // The chain's clock may be ahead of the worker's: its ended epochs are served no more from here.
    parameters.servedEpochs?.closeBefore(chainEpoch);
    // A page at a time, so a flush holds a bounded number of lanes however far settlement has
    // fallen behind. The cursor moves past each page whatever became of its lanes, so lanes that
    // must wait do not hold back the ones after them.
    while (page.length > 0) {
      const paused = await settlePage(page, result, {
        due: (record) =>
          options.all === true || record.lane.epoch < chainEpoch || flagged.has(record.lane.consumer.toLowerCase()),
        windowCloses: (epoch) => epochEnd(epoch) + window,
        chainTime,
        chainEpoch,
        window,
      });
      metrics.unsettled.set(store.pendingCount());
      if (paused) {
        result.waiting = store.pendingCount();
        break;
      }
      if (page.length < pageSize) break;
      page = await store.listUnsettled({ limit: pageSize, after: page.at(-1)!.lane });
    }
    await sweep(chainTime, epochEnd, window);
    return result;
  }

  type PageContext = {
    due(record: LaneRecord): boolean;
    windowCloses(epoch: bigint): bigint;
    chainTime: bigint;
    chainEpoch: bigint;
    window: bigint;
  };

  /** Settles one page of the backlog; true when settlement is paused for every lane. */
  async function settlePage(page: readonly LaneRecord[], result: SettlementResult, context: PageContext) {
    const closed: LaneRecord[] = [];
    const candidates: LaneRecord[] = [];
    // The lanes as they are now: a query may have been counted since the page was read.
    const records = page.map((record) => store.lane(record.lane) ?? record);
    for (const record of records) {
      const closesAt = context.windowCloses(record.lane.epoch);
      if (record.lane.epoch > context.chainEpoch || !context.due(record)) {
        // The epoch is under way (or the chain's clock is behind the worker's): one entry at its end.
        result.waiting++;
      } else if (record.lane.epoch < context.chainEpoch && store.reserving(record.lane)) {
        // A query of the ended epoch, checked before it was closed, is still being counted: the
        // lane's one entry waits for it.
        result.waiting++;
      } else if (context.chainTime >= closesAt) {
        closed.push(record);
      } else {
        if (BigInt(Math.ceil(Number(context.window) * warnShare)) > closesAt - context.chainTime) {
          logger.warn(
            { consumer: record.lane.consumer, key: record.lane.key, epoch: record.lane.epoch.toString(), closesAt },
            "a lane's settlement window closes soon",
          );
        }
        candidates.push(record);
      }
    }
    if (closed.length > 0) {
      await drop(closed, "UsageSettlementWindowClosed", result);
    }
    // Only a lane this worker already sent can have landed unseen (before a crash): its settled
    // total is read on chain before anything is sent again.
    const sent = candidates.filter((record) => record.state === "pending");
    const onChain = await mapBounded(sent, CHAIN_READS_IN_FLIGHT, async (record) => {
      if (record.transactionHash !== undefined && (await stillPending(record.transactionHash))) return "pending";
      if (await unconfirmed(record.transactionHash)) return "pending";
      return settledOnChain(record.lane);
    });
    const ready: Entry[] = [];
    const alreadySettled: { lane: LaneId; total: bigint }[] = [];
    for (const record of candidates) {
      const index = sent.indexOf(record);
      const seen = index === -1 ? undefined : onChain[index];
      if (seen === "pending") {
        result.waiting++;
        continue;
      }
      if (seen !== undefined && seen >= record.voucher!.total) {
        alreadySettled.push({ lane: record.lane, total: seen });
        continue;
      }
      const entry = entryOf(record);
      if (entry === undefined) result.waiting++;
      else ready.push(entry);
    }
    if (alreadySettled.length > 0) {
      await store.markSettled(alreadySettled, undefined);
      result.settled += alreadySettled.length;
    }
    for (const method of ["settle", "settleKeys"] as const) {
      if (
        await settleEntries(
          method,
          ready.filter((entry) => entry.method === method),
          result,
        )
      )
        return true;
    }
    return false;
  }

  async function drop(records: readonly LaneRecord[], reason: string, result: SettlementResult) {
    await store.markDropped(
      records.map((record) => record.lane),
      reason,
    );
    result.dropped += records.length;
    metrics.dropped.inc({ reason }, records.length);
    for (const record of records) {
      logger.warn(
        {
          consumer: record.lane.consumer,
          key: record.lane.key,
          epoch: record.lane.epoch.toString(),
          unsettled: (record.charged - record.settledTotal).toString(),
          reason,
        },
        "a served lane cannot be settled and is dropped",
      );
    }
  }

  /** Settles entries of one method in batches; true when the whole flush must pause. */
  async function settleEntries(method: Method, entries: Entry[], result: SettlementResult): Promise<boolean> {
    let queue = entries;
    while (queue.length > 0) {
      const chunk = queue.slice(0, batchSize);
      const checked = await check(method, chunk);
      if ("gas" in checked) {
        queue = queue.slice(chunk.length);
        await send(method, chunk, result, checked.gas);
        continue;
      }
      const passing = await longestPassingPrefix(method, chunk);
      if (passing > 0) {
        queue = queue.slice(passing);
        await send(method, chunk.slice(0, passing), result);
        continue;
      }
      // The first entry fails on its own, against the state as it is now.
      const entry = queue[0]!;
      const { error } = checked.error === undefined ? { error: "unknown" } : checked;
      const own = (other: Entry) => sameAddress(other.record.lane.consumer, entry.record.lane.consumer);
      if (error === "UsageNotWorker") {
        logger.warn({ error }, "settlement paused: this worker is not authorised");
        return true;
      } else if (error === "UsageNothingToSettle") {
        queue = queue.slice(1);
        const settledTotal = await settledOnChain(entry.record.lane);
        await store.markSettled([{ lane: entry.record.lane, total: settledTotal }], undefined);
        // Cancelled down to `settledTotal`: what is above it is void.
        if (settledTotal < entry.record.charged) await drop([entry.record], error, result);
        else result.settled++;
      } else if (PERMANENT_REFUSALS.has(error)) {
        queue = queue.slice(1);
        await drop([entry.record], error, result);
      } else {
        // A deposit too small, an epoch the chain has not reached, or something unforeseen: the
        // consumer's lanes wait for a later flush.
        const before = queue.length;
        queue = queue.filter((other) => !own(other));
        result.waiting += before - queue.length;
        logger.info({ consumer: entry.record.lane.consumer, error }, "settlement of this consumer's lanes waits");
      }
    }
    return false;
  }

  /**
   * Forwards the fees of the (epoch, run) pairs whose settlement window closed: a run's to its
   * contributions (RunRewards), run zero's to the epoch's reward pool.
   */
  async function sweep(chainTime: bigint, epochEnd: (epoch: bigint) => bigint, window: bigint) {
    const due = [...toSweep].filter(([, { epoch }]) => chainTime >= epochEnd(epoch) + window);
    for (const [key, { epoch, run }] of due.sort(([, a], [, b]) => (a.epoch < b.epoch ? -1 : 1))) {
      toSweep.delete(key);
      const forRun = run !== zeroHash;
      try {
        const [accrued, swept] = forRun
          ? await settlement.read.runFeesOf([epoch, run])
          : await settlement.read.feesOf([epoch]);
        if (swept || accrued === 0n) continue;
        const hash = forRun
          ? await settlement.write.sweepRunFees([epoch, run])
          : await settlement.write.sweepFees([epoch]);
        await publicClient.waitForTransactionReceipt({ hash });
        logger.info(
          { epoch: epoch.toString(), run: forRun ? run : null, fees: accrued.toString(), transactionHash: hash },
          forRun ? "fees swept to the served model's contributions" : "fees swept",
        );
      } catch (error) {
        // Someone else swept it first (anyone may), or the node failed: the next flush looks again.
        const name = revertErrorName(error);
        if (name !== "UsageFeesAlreadySwept" && name !== "UsageRunFeesAlreadySwept") {
          toSweep.set(key, { epoch, run });
          logger.warn({ err: error, epoch: epoch.toString(), run }, "sweeping fees failed; will retry");
        }
      }
    }
  }

  let watchedTo: bigint | undefined;
  /**
   * Reads the consumers' events since the last call and flags as urgent the consumers that
   * cancelled vouchers at this worker, requested a withdrawal or revoked a key: what they owe must
   * be settled within a grace (CANCEL_GRACE) or before the withdrawal unlocks. Returns how many
   * consumers it flagged.
   */
  async function watch(): Promise<number> {
    const head = await publicClient.getBlockNumber({ cacheTime: 0 });
    const fromBlock = watchedTo === undefined ? head : watchedTo + 1n;
    if (fromBlock > head) return 0;
    const logs = await publicClient.getLogs({
      address: parameters.usageSettlement,
      events: CONSUMER_EVENTS,
      fromBlock,
      toBlock: head,
    });
    watchedTo = head;
    let flagged = 0;
    for (const log of logs) {
      if (log.eventName === "VouchersCancelled" && !sameAddress(log.args.worker!, worker)) continue;
      urgent.add(log.args.consumer!.toLowerCase());
      flagged++;
      logger.info(
        { event: log.eventName, consumer: log.args.consumer, blockNumber: log.blockNumber.toString() },
        "the consumer's lanes settle at once",
      );
    }
    return flagged;
  }

  return {
    watch,
    /** Settles what is due (see FlushOptions); concurrent calls share one run. */
    flush(options: FlushOptions = {}): Promise<SettlementResult> {
      running ??= flushOnce(options).finally(() => {
        running = undefined;
      });
      return running;
    },
    /**
     * Flags a consumer's lanes to settle at the next flush whatever their epoch: the consumer
     * cancelled vouchers, requested a withdrawal or revoked a key, after which what it owes can
     * be settled for a limited time only.
     */
    urgent(consumer: Address) {
      urgent.add(consumer.toLowerCase());
    },
    /** Whether a lane is flagged urgent. */
    hasUrgent: () => urgent.size > 0,
    /** Resolves once no flush is in flight. */
    async idle(): Promise<void> {
      await running?.catch(() => undefined);
    },
  };
}

export type UsageSettler = ReturnType<typeof createUsageSettler>;

/** Events after which a consumer's lanes must settle at once. */
const CONSUMER_EVENTS = parseAbi([
  "event VouchersCancelled(address indexed consumer, address indexed worker, uint64 epoch, uint64 aboveTotal, uint64 effectiveAt)",
  "event WithdrawalRequested(address indexed consumer, uint256 amount, uint64 unlocksAt)",
  "event KeyRevoked(address indexed consumer, address indexed key, uint64 revokedAt)",
]);

/** Contract refusals that no later flush can turn into a settlement: the lane is dropped. */
const PERMANENT_REFUSALS = new Set([
  "UsageInvalidSignature",
  "UsageInvalidKeySignature",
  "UsageVoucherExpired",
  "UsageSettlementWindowClosed",
  "UsageExceedsQuota",
  "UsageInvalidKeyGrant",
  "UsageKeyWrongWorker",
  "UsageKeyExpired",
  "UsageKeyRevoked",
  "UsageKeyCapExceeded",
]);

const laneName = (lane: { consumer: Address; key: Address; epoch: bigint }) =>
  `${lane.consumer.toLowerCase()}!${lane.key.toLowerCase()}!${lane.epoch}`;

/** `map` with at most `limit` calls of `f` in flight; results in input order. */
async function mapBounded<T, R>(items: readonly T[], limit: number, f: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await f(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

function createSettlementMetrics(registry: Registry) {
  const existing = <T>(name: string) => registry.getSingleMetric(name) as T | undefined;
  return {
    settled:
      existing<Counter>("worker_lanes_settled_total") ??
      new Counter({
        name: "worker_lanes_settled_total",
        help: "Lanes (consumer, key, epoch) this worker settled on chain, one entry each.",
        registers: [registry],
      }),
    dropped:
      existing<Counter<"reason">>("worker_lanes_dropped_total") ??
      new Counter({
        name: "worker_lanes_dropped_total",
        help: "Served lanes the contract refuses to settle for good, by contract error.",
        labelNames: ["reason"] as const,
        registers: [registry],
      }),
    unsettled:
      existing<Gauge>("worker_lanes_unsettled") ??
      new Gauge({
        name: "worker_lanes_unsettled",
        help: "Lanes with queries charged and not yet settled on chain.",
        registers: [registry],
      }),
  };
}
