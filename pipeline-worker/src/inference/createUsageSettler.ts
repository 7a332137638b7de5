import { Counter, Gauge, type Registry } from "prom-client";
import {
  TransactionNotFoundError,
  TransactionReceiptNotFoundError,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { revertErrorName } from "../chain/revertErrorName.ts";
import { policyRegistryAbi, usageSettlementAbi } from "../abis.ts";
import type { Logger } from "../internal/createLogger.ts";
import type { Metrics } from "../internal/createMetrics.ts";
import type { QueryVoucher, UsageStore, VoucherRecord } from "./createUsageStore.ts";

export type CreateUsageSettlerParameters = {
  publicClient: PublicClient;
  walletClient: WalletClient<Transport, Chain, Account>;
  usageSettlement: Address;
  policyRegistry: Address;
  store: UsageStore;
  logger: Logger;
  metrics: Metrics;
  /** Most queries per `settle` transaction (the worker's `inference.settlementBatchSize`). */
  batchSize: number;
  /**
   * Blocks a settle transaction must have before its queries leave the store. Default 0: at once.
   * With more, a reorg that drops the transaction leaves them in the store, to be sent again.
   */
  confirmations?: number;
};

export type SettlementResult = {
  /** Queries whose settlement this flush saw mined (or found already settled on chain). */
  settled: number;
  /** Queries the contract refuses for good; they stay in the store, marked with the reason. */
  dropped: number;
  /** Queries left for a later flush (kill switch, deposit short, transaction pending or reverted). */
  waiting: number;
  transactions: Hex[];
};

/**
 * Settles counted queries on chain with `UsageSettlement.settle`, in batches, oldest epoch first
 * (the contract forwards fees once per run of one epoch), moving each query's fee from the
 * consumer's deposit to that epoch's contributor reward pool.
 *
 * Crash-safe through the usage store: a voucher leaves the store's settlement list only once its
 * nonce is seen spent on chain. Before a voucher that was sent before is sent again, its nonce is
 * checked on chain (`isNonceUsed`), so one whose transaction landed before a crash is marked
 * settled, never sent twice (the contract would refuse the whole batch if it were); a voucher
 * whose transaction is still pending is left alone until it is mined or forgotten.
 *
 * `settle` is all or nothing and works through a batch in order, so a batch that would revert has
 * a longest prefix that would not: the settler finds it by bisection, sends it, and deals with the
 * voucher after it on its own. The contract refuses some vouchers for good (a signature it
 * rejects; a quota lowered below the usage already served, which refuses the rest of that
 * consumer's epoch too): they are dropped and logged. Others wait for a later flush: a deposit
 * too small (the consumer's remaining vouchers wait with it), an epoch the chain's clock has not
 * reached, and, for the whole flush, a kill switch or this worker no longer being authorised.
 */
/** Reads of `isNonceUsed` in flight at once when a flush starts. */
const CHAIN_READS_IN_FLIGHT = 16;
/** Batches' worth of vouchers a flush reads from the store at a time. */
const BATCHES_PER_PAGE = 4;

export function createUsageSettler(parameters: CreateUsageSettlerParameters) {
  const { publicClient, walletClient, store, logger } = parameters;
  const { batchSize } = parameters;
  const pageSize = batchSize * BATCHES_PER_PAGE;
  const confirmations = BigInt(parameters.confirmations ?? 0);
  const metrics = createSettlementMetrics(parameters.metrics.registry);
  let running: Promise<SettlementResult> | undefined;

  const read = <T>(functionName: string, args: readonly unknown[] = []) =>
    publicClient.readContract({
      address: parameters.usageSettlement,
      abi: usageSettlementAbi,
      functionName,
      args,
    } as never) as Promise<T>;

  const argsOf = (vouchers: readonly QueryVoucher[]) =>
    vouchers.map((v) => ({
      consumer: v.consumer,
      inputHash: v.inputHash,
      nonce: v.nonce,
      epoch: v.epoch,
      deadline: v.deadline,
      signature: v.signature,
    }));

  // Gas per voucher in the last estimate. A node's eth_estimateGas runs the call over and over
  // (Hardhat's: 440-630 ms for 200 vouchers, against 35 ms for one eth_call), so once a batch has
  // been estimated the next ones are checked by one call with a gas limit from this figure and a
  // margin: the call passing proves the limit enough. A call that fails is not read (nodes word an
  // out-of-gas differently); the estimate then says whether it reverts and what it needs.
  let gasPerVoucher: bigint | undefined;

  const settleCall = (vouchers: readonly QueryVoucher[]) =>
    ({
      account: walletClient.account,
      address: parameters.usageSettlement,
      abi: usageSettlementAbi,
      functionName: "settle",
      args: [argsOf(vouchers)],
    }) as const;

  /**
   * The gas to send `settle(vouchers)` with, or the contract error it would revert with. The check
   * is also where the gas comes from, so each batch is executed twice (the check, the transaction)
   * rather than three times (a simulation, writeContract's own estimate, the transaction).
   */
  async function check(vouchers: readonly QueryVoucher[]): Promise<{ gas: bigint } | { error: string }> {
    if (gasPerVoucher !== undefined) {
      const gas = (gasPerVoucher * BigInt(vouchers.length) * 3n) / 2n + 50_000n;
      try {
        await publicClient.simulateContract({ ...settleCall(vouchers), gas });
        return { gas };
      } catch {
        // Out of gas at that limit, a revert, or the node failing: the estimate below tells which.
      }
    }
    try {
      const gas = await publicClient.estimateContractGas(settleCall(vouchers));
      gasPerVoucher = gas / BigInt(vouchers.length);
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

  /**
   * Of the transactions these records were sent in, those mined fewer than `confirmations` blocks
   * deep. One whose receipt is gone is not among them: its nonce was spent by another transaction.
   */
  async function unconfirmedTransactions(records: readonly VoucherRecord[]): Promise<Set<Hex>> {
    const unconfirmed = new Set<Hex>();
    if (confirmations === 0n) return unconfirmed;
    const hashes = new Set(records.flatMap((record) => (record.transactionHash ? [record.transactionHash] : [])));
    if (hashes.size === 0) return unconfirmed;
    const head = await publicClient.getBlockNumber({ cacheTime: 0 });
    for (const hash of hashes) {
      try {
        const receipt = await publicClient.getTransactionReceipt({ hash });
        if (head - receipt.blockNumber < confirmations) unconfirmed.add(hash);
      } catch (error) {
        if (!(error instanceof TransactionReceiptNotFoundError)) throw error;
      }
    }
    return unconfirmed;
  }

  /** The number of leading vouchers that `settle` accepts together, found by bisection. */
  async function longestPassingPrefix(vouchers: readonly QueryVoucher[]): Promise<number> {
    // A prefix fails if any voucher in it fails after those before it, so passing is monotone.
    let passing = 0;
    let failing = vouchers.length;
    while (failing - passing > 1) {
      const middle = Math.floor((passing + failing) / 2);
      if ("gas" in (await check(vouchers.slice(0, middle)))) passing = middle;
      else failing = middle;
    }
    return passing;
  }

  async function send(batch: readonly QueryVoucher[], result: SettlementResult, gas?: bigint) {
    const hash = await walletClient.writeContract({ ...settleCall(batch), gas });
    await store.markSubmitted(batch, hash);
    result.transactions.push(hash);
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") {
      logger.warn({ transactionHash: hash }, "settle transaction reverted; will retry");
      result.waiting += batch.length;
      return;
    }
    // Mined but not yet confirmed: a later flush marks them settled once the block is deep enough.
    if (confirmations === 0n) await store.markSettled(batch, hash);
    result.settled += batch.length;
    metrics.settled.inc(batch.length);
    logger.info(
      { transactionHash: hash, queries: batch.length, gasUsed: receipt.gasUsed.toString() },
      "usage settled on chain",
    );
  }

  async function flushOnce(): Promise<SettlementResult> {
    const result: SettlementResult = { settled: 0, dropped: 0, waiting: 0, transactions: [] };
    let page = await store.listUnsettled({ limit: pageSize });
    if (page.length === 0) return result;
    if (
      await publicClient.readContract({
        address: parameters.policyRegistry,
        abi: policyRegistryAbi,
        functionName: "killSwitchEngaged",
      })
    ) {
      result.waiting = store.pendingCount();
      return result;
    }
    const chainEpoch = await publicClient.readContract({
      address: parameters.policyRegistry,
      abi: policyRegistryAbi,
      functionName: "currentEpoch",
    });
    // A page at a time, so a flush holds a bounded number of vouchers however far settlement has
    // fallen behind (a 16k backlog held at once raised a worker's memory by 65 MiB under load).
    // The cursor moves past each page whatever became of its vouchers, so vouchers that must
    // wait (a deposit short, a transaction pending) do not hold back the ones after them.
    for (;;) {
      const paused = await settlePage(page, chainEpoch, result);
      metrics.unsettled.set(store.pendingCount());
      if (paused) {
        // Nothing more settles in this flush: everything still in the store waits for a later one.
        result.waiting = store.pendingCount();
        break;
      }
      if (page.length < pageSize) break;
      page = await store.listUnsettled({ limit: pageSize, after: page.at(-1)!.voucher });
      if (page.length === 0) break;
    }
    return result;
  }

  /** Settles one page of the backlog; true when settlement is paused for every voucher. */
  async function settlePage(records: readonly VoucherRecord[], chainEpoch: bigint, result: SettlementResult) {
    const ready: VoucherRecord[] = [];
    const alreadySettled: QueryVoucher[] = [];
    // Only a voucher this worker already sent can have landed unseen (before a crash). One that
    // another worker settled (the consumer sent the same signed query to both) is found by the
    // batch's check below (UsageNonceAlreadyUsed), so vouchers never sent cost no read here: at
    // thousands of queries a second, a read per voucher per flush was most of the worker's CPU.
    const spent = await mapBounded(records, CHAIN_READS_IN_FLIGHT, async (record) =>
      record.state === "submitted"
        ? read<boolean>("isNonceUsed", [record.voucher.consumer, record.voucher.nonce])
        : false,
    );
    const unconfirmed = await unconfirmedTransactions(records.filter((_, i) => spent[i]));
    for (const [i, record] of records.entries()) {
      const { voucher } = record;
      if (spent[i] && record.transactionHash !== undefined && unconfirmed.has(record.transactionHash)) {
        // Mined by this worker, not yet `confirmations` deep: a reorg could still drop it.
        result.waiting++;
      } else if (spent[i]) {
        // Landed before a crash, or the consumer sent the same signed query to another worker too.
        alreadySettled.push(voucher);
      } else if (voucher.epoch > chainEpoch) {
        // The worker's clock is ahead of the chain's; the contract refuses future epochs.
        result.waiting++;
      } else if (
        record.state === "submitted" &&
        record.transactionHash &&
        (await stillPending(record.transactionHash))
      ) {
        result.waiting++;
      } else {
        ready.push(record);
      }
    }
    if (alreadySettled.length > 0) {
      await store.markSettled(alreadySettled, undefined);
      result.settled += alreadySettled.length;
    }

    let queue = ready.map((r) => r.voucher);
    const setAside = (keep: (v: QueryVoucher) => boolean) => {
      const before = queue.length;
      queue = queue.filter(keep);
      return before - queue.length;
    };
    while (queue.length > 0) {
      const chunk = queue.slice(0, batchSize);
      const checked = await check(chunk);
      if ("gas" in checked) {
        queue = queue.slice(chunk.length);
        await send(chunk, result, checked.gas);
        continue;
      }
      const { error } = checked;
      const passing = await longestPassingPrefix(chunk);
      if (passing > 0) {
        queue = queue.slice(passing);
        await send(chunk.slice(0, passing), result);
        continue;
      }
      // The first voucher fails on its own, against the state as it is now.
      const voucher = queue[0]!;
      const own = (v: QueryVoucher) => v.consumer === voucher.consumer;
      if (error === "UsageKillSwitchEngaged" || error === "UsageNotWorker") {
        logger.warn({ error }, "settlement paused");
        return true;
      } else if (error === "UsageNonceAlreadyUsed") {
        setAside((v) => v !== voucher);
        await store.markSettled([voucher], undefined);
        result.settled++;
      } else if (error === "UsageInvalidSignature" || error === "UsageExceedsQuota") {
        const dropped =
          error === "UsageExceedsQuota" ? queue.filter((v) => own(v) && v.epoch === voucher.epoch) : [voucher];
        setAside((v) => !dropped.includes(v));
        await store.markDropped(dropped, error);
        result.dropped += dropped.length;
        metrics.dropped.inc({ reason: error }, dropped.length);
        logger.warn(
          { consumer: voucher.consumer, epoch: voucher.epoch.toString(), queries: dropped.length, error },
          "served queries cannot be settled and are dropped",
        );
      } else {
        // A deposit too small, or something unforeseen: the consumer's vouchers wait for a later flush.
        result.waiting += setAside((v) => !own(v));
        logger.info({ consumer: voucher.consumer, error }, "settlement of this consumer's queries waits");
      }
    }
    return false;
  }

  return {
    /** Settles everything counted and not yet settled; concurrent calls share one run. */
    flush(): Promise<SettlementResult> {
      running ??= flushOnce().finally(() => {
        running = undefined;
      });
      return running;
    },
    /** Resolves once no flush is in flight. */
    async idle(): Promise<void> {
      await running?.catch(() => undefined);
    },
    /** Whether a full batch is waiting. */
    batchReady: () => store.pendingCount() >= batchSize,
  };
}

export type UsageSettler = ReturnType<typeof createUsageSettler>;

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
      existing<Counter>("worker_queries_settled_total") ??
      new Counter({
        name: "worker_queries_settled_total",
        help: "Queries this worker settled on chain.",
        registers: [registry],
      }),
    dropped:
      existing<Counter<"reason">>("worker_queries_dropped_total") ??
      new Counter({
        name: "worker_queries_dropped_total",
        help: "Served queries the contract refuses to settle for good, by contract error.",
        labelNames: ["reason"] as const,
        registers: [registry],
      }),
    unsettled:
      existing<Gauge>("worker_queries_unsettled") ??
      new Gauge({
        name: "worker_queries_unsettled",
        help: "Queries counted and not yet settled on chain.",
        registers: [registry],
      }),
  };
}
