import { mkdir } from "node:fs/promises";
import { ClassicLevel } from "classic-level";
import { getAddress, type Address, type Hex } from "viem";
import { WorkerError } from "../internal/WorkerError.ts";

/** A query as the consumer signed it: what `UsageSettlement.settle` takes. */
export type QueryVoucher = {
  consumer: Address;
  inputHash: Hex;
  nonce: bigint;
  epoch: bigint;
  deadline: bigint;
  signature: Hex;
};

/**
 * `pending`: served and counted, not yet sent for settlement. `submitted`: sent in the transaction
 * named, not yet seen mined. `settled`: its nonce is spent on chain. `dropped`: it can never be
 * settled (the contract refuses it for good); the reason says why.
 */
export type VoucherState = "pending" | "submitted" | "settled" | "dropped";

export type VoucherRecord = {
  voucher: QueryVoucher;
  state: VoucherState;
  servedAt: string;
  updatedAt: string;
  transactionHash?: Hex | undefined;
  /** Why it was dropped. */
  reason?: string | undefined;
};

export type UsageStore = {
  /**
   * How many queries of `consumer` this worker counted in `epoch`. The first call for a pair
   * reads it from disk; later ones come from memory, and `usedNow` reads that memory at once.
   */
  used(consumer: Address, epoch: bigint): Promise<bigint>;
  /** The count `used` loaded, kept current by `record` and `release`; 0 if never loaded. */
  usedNow(consumer: Address, epoch: bigint): bigint;
  /** Queries of `consumer` counted and not yet settled (or dropped), in every epoch. */
  unsettled(consumer: Address): bigint;
  /**
   * How many of `consumer`'s queries left the unsettled list (settled, dropped or released) since
   * the store opened: it changes whenever `unsettled` drops, so a cache keyed on it notices.
   */
  settledCount(consumer: Address): bigint;
  /** Queries counted and not yet settled (or dropped), all consumers. */
  pendingCount(): number;
  get(consumer: Address, nonce: bigint): Promise<VoucherRecord | undefined>;
  /**
   * Counts a query and keeps its voucher for settlement, durably: it resolves once the write is on
   * disk (fsync'd), and writes that arrive together share one fsync. The query service counts a
   * query before its model is invoked, and nothing uncounts it. Counting a consumer's nonce twice
   * is refused with NONCE_REPLAYED. `used` is the count right after this query, so concurrent
   * queries get distinct positions.
   */
  record(
    voucher: QueryVoucher,
    parameters?: {
      /**
       * The caller looked the nonce up with `get`, found nothing, and no other call can record it
       * until this one ends (the query service holds the nonce in flight): the store skips its own
       * look-up, one LevelDB read per query.
       */
      checkedUnused?: boolean;
    },
  ): Promise<{ record: VoucherRecord; used: bigint }>;
  /**
   * Vouchers waiting for settlement (pending or submitted), oldest epoch first; at most `limit`,
   * and only those after `after` in that order (to read a long backlog a page at a time).
   */
  listUnsettled(options?: { limit?: number; after?: QueryVoucher }): Promise<VoucherRecord[]>;
  markSubmitted(vouchers: readonly QueryVoucher[], transactionHash: Hex): Promise<void>;
  markSettled(vouchers: readonly QueryVoucher[], transactionHash: Hex | undefined): Promise<void>;
  markDropped(vouchers: readonly QueryVoucher[], reason: string): Promise<void>;
  close(): Promise<void>;
};

export type CreateUsageStoreParameters = {
  directory: string;
  /** fsync every write (LevelDB's `sync`). On by default; tests that measure without it turn it off. */
  sync?: boolean;
  now?: () => Date;
};

type StoredRecord = Omit<VoucherRecord, "voucher"> & {
  voucher: { consumer: Address; inputHash: Hex; nonce: string; epoch: string; deadline: string; signature: Hex };
};
type Operation = { type: "put"; key: string; value: string } | { type: "del"; key: string };

// Key layout. A voucher, its usage entry and its settlement entry are written in one LevelDB batch,
// so a crash leaves a query either wholly counted or not at all.
//   v!<consumer>!<nonce>          -> StoredRecord (JSON); its presence spends the nonce here
//   e!<epoch>!<consumer>!<nonce>  -> "" ; usage: one entry per query counted in the epoch
//   p!<epoch>!<consumer>!<nonce>  -> "" ; settlement: vouchers not yet settled, by epoch
// Numbers are zero-padded to 20 digits (uint64), addresses lower-case, so byte order is numeric.
const pad = (value: bigint) => value.toString().padStart(20, "0");
const lower = (address: Address) => address.toLowerCase();
const voucherKey = (consumer: Address, nonce: bigint) => `v!${lower(consumer)}!${pad(nonce)}`;
const usageKey = (v: { consumer: Address; epoch: bigint; nonce: bigint }) =>
  `e!${pad(v.epoch)}!${lower(v.consumer)}!${pad(v.nonce)}`;
const pendingKey = (v: { consumer: Address; epoch: bigint; nonce: bigint }) =>
  `p!${pad(v.epoch)}!${lower(v.consumer)}!${pad(v.nonce)}`;
const countKey = (consumer: Address, epoch: bigint) => `${pad(epoch)}!${lower(consumer)}`;

/**
 * The worker's durable record of the queries it served: an embedded LevelDB (classic-level, as the
 * submission journal) holding, per query, the consumer's signed voucher and its settlement state.
 * It is the source of the quota counts, so what it holds must never be less than what was
 * answered: a query is written, and fsync'd, before its model is invoked. Concurrent
 * writes are gathered into one batch and one fsync (group commit), so durability costs one disk
 * flush per burst of queries, not one per query.
 *
 * Invariant: for every (consumer, epoch) whose count is loaded, the count in memory equals the
 * number of `e!` entries on disk, because both change only together, after the write succeeds.
 */
export async function createUsageStore(parameters: CreateUsageStoreParameters): Promise<UsageStore> {
  const db = new ClassicLevel<string, string>(parameters.directory, { keyEncoding: "utf8", valueEncoding: "utf8" });
  try {
    await mkdir(parameters.directory, { recursive: true });
    await db.open();
  } catch (cause) {
    throw new WorkerError("STORAGE_UNAVAILABLE", `Cannot open the usage store in ${parameters.directory}.`, {
      cause,
      hints: [
        "Only one worker may use a data directory at a time: stop any other worker using the same dataDir.",
        "Check that the data directory is writable and not full.",
      ],
    });
  }
  const sync = parameters.sync ?? true;
  const now = parameters.now ?? (() => new Date());

  const counts = new Map<string, bigint>();
  const loading = new Map<string, Promise<bigint>>();
  const unsettled = new Map<string, bigint>();
  const left = new Map<string, bigint>();
  let pending = 0;
  for await (const key of db.keys({ gt: "p!", lt: "p!\xff" })) {
    const consumer = key.split("!")[2]!;
    unsettled.set(consumer, (unsettled.get(consumer) ?? 0n) + 1n);
    pending++;
  }

  // Group commit: writes queue up while one batch is being flushed, then go out together.
  let queue: { operations: Operation[]; resolve: () => void; reject: (error: unknown) => void }[] = [];
  let flushing: Promise<void> | undefined;
  let closed = false;
  // Nonces between their replay check and their write, so two records of one nonce cannot both pass.
  const recording = new Set<string>();
  async function drain() {
    while (queue.length > 0) {
      const group = queue;
      queue = [];
      try {
        await db.batch(
          group.flatMap((entry) => entry.operations),
          { sync },
        );
        for (const entry of group) entry.resolve();
      } catch (cause) {
        const error = new WorkerError("STORAGE_UNAVAILABLE", "Cannot write to the usage store.", {
          cause,
          hints: ["Check that the data directory is writable and not full."],
        });
        for (const entry of group) entry.reject(error);
      }
    }
    flushing = undefined;
  }
  function write(operations: Operation[]): Promise<void> {
    if (closed) return Promise.reject(new WorkerError("STORAGE_UNAVAILABLE", "The usage store is closed."));
    return new Promise<void>((resolve, reject) => {
      queue.push({ operations, resolve, reject });
      flushing ??= drain();
    });
  }

  // Synchronous: a LevelDB read from memory or the page cache takes about a microsecond, while the
  // asynchronous `get` costs 15 to 25 µs of the main thread (a snapshot, a hop to the thread pool
  // and back) and, on a worker pinned to one core, waits for the thread pool's turn: it was the
  // largest single cost of a query after the signatures.
  const read = async (key: string): Promise<VoucherRecord | undefined> => {
    const value = db.getSync(key);
    return value === undefined ? undefined : fromStored(JSON.parse(value) as StoredRecord);
  };

  function used(consumer: Address, epoch: bigint): Promise<bigint> {
    const key = countKey(consumer, epoch);
    const known = counts.get(key);
    if (known !== undefined) return Promise.resolve(known);
    let load = loading.get(key);
    if (load === undefined) {
      load = (async () => {
        const prefix = `e!${pad(epoch)}!${lower(consumer)}!`;
        let count = 0n;
        for await (const _key of db.keys({ gt: prefix, lt: `${prefix}\xff` })) count++;
        counts.set(key, count);
        loading.delete(key);
        return count;
      })();
      loading.set(key, load);
    }
    return load;
  }

  function adjustUnsettled(consumer: Address, delta: bigint) {
    const key = lower(consumer);
    const next = (unsettled.get(key) ?? 0n) + delta;
    if (next <= 0n) unsettled.delete(key);
    else unsettled.set(key, next);
    if (delta < 0n) left.set(key, (left.get(key) ?? 0n) - delta);
    pending += Number(delta);
  }

  /** Moves vouchers to a new state; those already in a final state, or unknown, are left alone. */
  async function transition(vouchers: readonly QueryVoucher[], state: VoucherState, extra: Partial<VoucherRecord>) {
    const operations: Operation[] = [];
    const leaving: QueryVoucher[] = [];
    for (const voucher of vouchers) {
      const record = await read(voucherKey(voucher.consumer, voucher.nonce));
      if (record === undefined || record.state === "settled" || record.state === "dropped") continue;
      const next: VoucherRecord = { ...record, ...extra, state, updatedAt: now().toISOString() };
      operations.push({ type: "put", key: voucherKey(voucher.consumer, voucher.nonce), value: toStored(next) });
      if (state === "settled" || state === "dropped") {
        operations.push({ type: "del", key: pendingKey(voucher) });
        leaving.push(voucher);
      }
    }
    if (operations.length === 0) return;
    await write(operations);
    for (const voucher of leaving) adjustUnsettled(voucher.consumer, -1n);
  }

  async function recordNew(voucher: QueryVoucher): Promise<{ record: VoucherRecord; used: bigint }> {
    const at = now().toISOString();
    const record: VoucherRecord = {
      voucher: { ...voucher, consumer: getAddress(voucher.consumer) },
      state: "pending",
      servedAt: at,
      updatedAt: at,
    };
    await write([
      { type: "put", key: voucherKey(voucher.consumer, voucher.nonce), value: toStored(record) },
      { type: "put", key: usageKey(voucher), value: "" },
      { type: "put", key: pendingKey(voucher), value: "" },
    ]);
    const key = countKey(voucher.consumer, voucher.epoch);
    const used = (counts.get(key) ?? 0n) + 1n;
    counts.set(key, used);
    adjustUnsettled(voucher.consumer, 1n);
    return { record, used };
  }

  return {
    used,
    usedNow: (consumer, epoch) => counts.get(countKey(consumer, epoch)) ?? 0n,
    unsettled: (consumer) => unsettled.get(lower(consumer)) ?? 0n,
    settledCount: (consumer) => left.get(lower(consumer)) ?? 0n,
    pendingCount: () => pending,
    get: (consumer, nonce) => read(voucherKey(consumer, nonce)),

    async record(voucher, { checkedUnused } = {}) {
      const key = voucherKey(voucher.consumer, voucher.nonce);
      const replayed = () =>
        new WorkerError("NONCE_REPLAYED", `Nonce ${voucher.nonce} of ${voucher.consumer} was already used.`);
      if (recording.has(key)) throw replayed();
      recording.add(key);
      try {
        await used(voucher.consumer, voucher.epoch);
        if (!checkedUnused && (await read(key)) !== undefined) throw replayed();
        return await recordNew(voucher);
      } finally {
        recording.delete(key);
      }
    },

    async listUnsettled(options = {}) {
      const records: VoucherRecord[] = [];
      const gt = options.after === undefined ? "p!" : pendingKey(options.after);
      for await (const key of db.keys({ gt, lt: "p!\xff", limit: options.limit ?? -1 })) {
        const [, , consumer, nonce] = key.split("!");
        const record = await read(`v!${consumer}!${nonce}`);
        if (record !== undefined) records.push(record);
      }
      return records;
    },

    markSubmitted: (vouchers, transactionHash) => transition(vouchers, "submitted", { transactionHash }),
    markSettled: (vouchers, transactionHash) =>
      transition(vouchers, "settled", transactionHash === undefined ? {} : { transactionHash }),
    markDropped: (vouchers, reason) => transition(vouchers, "dropped", { reason }),

    async close() {
      if (closed) return;
      closed = true;
      await flushing;
      await db.close();
    },
  };
}

function toStored(record: VoucherRecord): string {
  const { voucher } = record;
  const stored: StoredRecord = {
    ...record,
    voucher: {
      consumer: voucher.consumer,
      inputHash: voucher.inputHash,
      nonce: voucher.nonce.toString(),
      epoch: voucher.epoch.toString(),
      deadline: voucher.deadline.toString(),
      signature: voucher.signature,
    },
  };
  return JSON.stringify(stored);
}

function fromStored(stored: StoredRecord): VoucherRecord {
  const { voucher } = stored;
  return {
    ...stored,
    voucher: {
      consumer: voucher.consumer,
      inputHash: voucher.inputHash,
      nonce: BigInt(voucher.nonce),
      epoch: BigInt(voucher.epoch),
      deadline: BigInt(voucher.deadline),
      signature: voucher.signature,
    },
  };
}
