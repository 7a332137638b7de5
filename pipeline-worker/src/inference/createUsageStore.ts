import { mkdir } from "node:fs/promises";
import { ClassicLevel } from "classic-level";
import { getAddress, zeroAddress, type Address, type Hex } from "viem";
import { WorkerError } from "../internal/WorkerError.ts";

/**
 * A lane: one payer-identity's usage at this worker in one epoch. `key` is the zero address when
 * the consumer signs with its own wallet, else the API or session key it authorised.
 */
export type LaneId = { consumer: Address; key: Address; epoch: bigint };

/**
 * The authority a lane settles with: its latest voucher (the highest total served). For a signed
 * lane, the Usage the consumer (or its session key) signed; for a bearer lane, `signature` is
 * absent: the worker's own count, settled against the key's grant.
 */
export type LaneVoucher = LaneId & {
  total: bigint;
  maxFeePerQuery: bigint;
  inputHash: Hex;
  deadline: bigint;
  signature?: Hex | undefined;
};

/**
 * `open`: charged above what is settled, not yet sent. `pending`: sent in `transactionHash`, not
 * yet seen mined (and confirmed). `settled`: everything charged is settled on chain. `dropped`: the
 * contract refuses it for good; `reason` says why.
 */
export type LaneState = "open" | "pending" | "settled" | "dropped";

export type LaneRecord = {
  lane: LaneId;
  /** Queries served in the lane (distinct totals). */
  served: bigint;
  /** The highest total served: what settlement charges in all. */
  charged: bigint;
  /** The voucher of the highest total: the lane's authority for settlement. */
  voucher: LaneVoucher | undefined;
  /** The total settled on chain (UsageSettlement.settledTotal), as this worker saw it. */
  settledTotal: bigint;
  /** The total sent in `transactionHash` while `pending`. */
  submittedTotal?: bigint | undefined;
  /** Wei the consumer paid for this lane, from the UsageSettled events of this worker's settlements. */
  paidWei: bigint;
  state: LaneState;
  transactionHash?: Hex | undefined;
  reason?: string | undefined;
  firstServedAt: string;
  lastServedAt: string;
  updatedAt: string;
};

/** A total held for a query between its checks and its count; `release` gives it back. */
export type Reservation = { lane: LaneId; total: bigint; release(): void };

/** The fields of a served query's voucher beyond its lane and total. */
export type VoucherFields = Pick<LaneVoucher, "maxFeePerQuery" | "inputHash" | "deadline" | "signature">;

export type UsageStore = {
  /**
   * Loads the consumer's lanes of `epoch` (records and served totals) into memory; later calls
   * resolve at once. `reserve`, `charged` and `nextTotal` read that memory synchronously.
   */
  load(consumer: Address, epoch: bigint): Promise<void>;
  /**
   * Holds `total` of `lane` for a query being checked, or throws TOTAL_REPLAYED when the lane
   * served it already or holds it for another query. Synchronous, so a check and its reservation
   * are one step; the lane's consumer and epoch must be loaded.
   */
  reserve(lane: LaneId, total: bigint): Reservation;
  /** The bearer variant: the store picks the lane's next total (above every total served or held). */
  reserveNext(lane: LaneId): Reservation;
  /**
   * Queries `consumer` is charged at this worker in `epoch`: the sum over its lanes of the highest
   * total served or held. The quota applies to it, as the contract sums totals.
   */
  charged(consumer: Address, epoch: bigint): bigint;
  /** The lowest total above every total served or held in the lane. */
  nextTotal(lane: LaneId): bigint;
  /** Queries charged (or held) and not yet settled or dropped, all epochs and lanes: what the deposit must cover. */
  unsettled(consumer: Address): bigint;
  /** The same for the lanes of one API or session key: what counts against its cap besides what is settled. */
  unsettledOfKey(consumer: Address, key: Address): bigint;
  /**
   * How many of `consumer`'s charged queries left the unsettled count (settled, dropped) since the
   * store opened: it changes whenever `unsettled` drops, so a cache keyed on it notices.
   */
  settledCount(consumer: Address): bigint;
  /** Lanes waiting for settlement (open or pending). */
  pendingCount(): number;
  /**
   * Counts a query served under `reservation` durably: it resolves once the write is on disk
   * (fsync'd), and writes that arrive together share one fsync. The query service counts a query
   * before its model is invoked, and nothing uncounts it. The reservation is released either way.
   */
  record(reservation: Reservation, voucher: VoucherFields): Promise<LaneRecord>;
  /** The lane's record as kept in memory, or undefined when not loaded or never served. */
  lane(lane: LaneId): LaneRecord | undefined;
  /** Whether a query in flight holds a total of the lane (reserved, not yet counted or given back). */
  reserving(lane: LaneId): boolean;
  /**
   * Lanes waiting for settlement (open or pending), oldest epoch first; at most `limit`, and only
   * those after `after` in that order (to read a long backlog a page at a time).
   */
  listUnsettled(options?: { limit?: number; after?: LaneId }): Promise<LaneRecord[]>;
  /** The lanes were sent for settlement up to `total` in the transaction named. */
  markSubmitted(entries: readonly { lane: LaneId; total: bigint }[], transactionHash: Hex): Promise<void>;
  /** The lanes are settled on chain up to `total` (and paid `paidWei` more). */
  markSettled(
    entries: readonly { lane: LaneId; total: bigint; paidWei?: bigint }[],
    transactionHash: Hex | undefined,
  ): Promise<void>;
  /** The contract refuses the lanes' vouchers for good. */
  markDropped(lanes: readonly LaneId[], reason: string): Promise<void>;
  /** Every lane of `consumer` this worker served, oldest epoch first: the usage history. */
  history(consumer: Address): Promise<LaneRecord[]>;
  close(): Promise<void>;
};

export type CreateUsageStoreParameters = {
  directory: string;
  /** fsync every write (LevelDB's `sync`). On by default; tests that measure without it turn it off. */
  sync?: boolean;
  now?: () => Date;
};

type StoredVoucher = Omit<LaneVoucher, "consumer" | "key" | "epoch" | "total" | "maxFeePerQuery" | "deadline"> & {
  total: string;
  maxFeePerQuery: string;
  deadline: string;
};
type StoredRecord = Omit<
  LaneRecord,
  "lane" | "served" | "charged" | "voucher" | "settledTotal" | "submittedTotal" | "paidWei"
> & {
  lane: { consumer: Address; key: Address; epoch: string };
  served: string;
  charged: string;
  voucher?: StoredVoucher | undefined;
  settledTotal: string;
  submittedTotal?: string | undefined;
  paidWei: string;
};
type Operation = { type: "put"; key: string; value: string } | { type: "del"; key: string };

/** A lane in memory: its record as on disk, the totals served, and those held by queries in flight. */
type Lane = {
  id: LaneId;
  record: LaneRecord | undefined;
  /** Served totals; undefined until the lane's consumer and epoch are loaded for serving. */
  served: Set<bigint> | undefined;
  reserved: Set<bigint>;
};

// Key layout. A served total, its lane's record and the settlement index are written in one
// LevelDB batch, so a crash leaves a query either wholly counted or not at all.
//   l!<consumer>!<epoch>!<key>          -> StoredRecord (JSON): the lane
//   t!<consumer>!<epoch>!<key>!<total>  -> ""; its presence spends the total in the lane
//   p!<epoch>!<consumer>!<key>          -> ""; the lane waits for settlement (oldest epoch first)
// Numbers are zero-padded to 20 digits (uint64), addresses lower-case, so byte order is numeric.
const pad = (value: bigint) => value.toString().padStart(20, "0");
const lower = (address: Address) => address.toLowerCase() as Address;
const laneName = (lane: LaneId) => `${lower(lane.consumer)}!${pad(lane.epoch)}!${lower(lane.key)}`;
const recordKey = (lane: LaneId) => `l!${laneName(lane)}`;
const totalKey = (lane: LaneId, total: bigint) => `t!${laneName(lane)}!${pad(total)}`;
const pendingKey = (lane: LaneId) => `p!${pad(lane.epoch)}!${lower(lane.consumer)}!${lower(lane.key)}`;
const groupName = (consumer: Address, epoch: bigint) => `${lower(consumer)}!${pad(epoch)}`;

const replayed = (lane: LaneId, total: bigint) =>
  new WorkerError("TOTAL_REPLAYED", `Total ${total} of this lane (epoch ${lane.epoch}) was already served.`, {
    hints: ["Sign the next total (GET /v1/quota's nextTotal, or your own counter plus one) and send the query again."],
    extra: { total: total.toString(), epoch: lane.epoch.toString() },
  });

/**
 * The worker's durable record of the usage it served, per lane (consumer, key, epoch): the totals
 * served (each at most once), the highest one with its voucher (the authority settlement sends),
 * and the settlement state. An embedded LevelDB (classic-level, as the submission journal). It is
 * the source of the quota counts, so what it holds must never be less than what was answered: a
 * query is written, and fsync'd, before its model is invoked. Concurrent writes are gathered into
 * one batch and one fsync (group commit), so durability costs one disk flush per burst of queries.
 *
 * Memory holds a lane's record exactly as on disk: a write's changes are applied to a draft of the
 * record when its batch is built and to memory only once the batch is on disk, so a failed write
 * changes nothing. Totals between their check and their write are reservations, which the quota
 * and deposit checks count as charged.
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

  const lanes = new Map<string, Lane>();
  /** The lanes of each loaded (consumer, epoch). */
  const groups = new Map<string, Set<Lane>>();
  const loading = new Map<string, Promise<void>>();
  /** By consumer (lower-case): charged minus settled over its unsettled lanes, as on disk. */
  const unsettledByConsumer = new Map<string, bigint>();
  /** By consumer: its lanes holding reservations. */
  const reservingLanes = new Map<string, Set<Lane>>();
  /** By consumer and key (`<consumer>!<key>`, lower-case): the lanes of an API or session key, in every epoch. */
  const keyLanes = new Map<string, Set<Lane>>();
  const left = new Map<string, bigint>();
  let pending = 0;

  const readRecord = (key: string): LaneRecord | undefined => {
    // Synchronous: a LevelDB read from memory or the page cache takes about a microsecond, while
    // the asynchronous `get` costs 15 to 25 µs of the main thread and waits for the thread pool
    // (a one-off measurement; `npm run bench -- queries` measures the whole path).
    const value = db.getSync(key);
    return value === undefined ? undefined : fromStored(JSON.parse(value) as StoredRecord);
  };

  function laneOf(id: LaneId): Lane {
    const name = laneName(id);
    let lane = lanes.get(name);
    if (lane === undefined) {
      const normalised = { consumer: getAddress(id.consumer), key: getAddress(id.key), epoch: id.epoch };
      lane = { id: normalised, record: undefined, served: undefined, reserved: new Set() };
      lanes.set(name, lane);
      if (normalised.key !== zeroAddress) {
        const keyName = `${lower(normalised.consumer)}!${lower(normalised.key)}`;
        let set = keyLanes.get(keyName);
        if (set === undefined) keyLanes.set(keyName, (set = new Set()));
        set.add(lane);
      }
    }
    return lane;
  }

  const isUnsettled = (record: LaneRecord | undefined) =>
    record !== undefined && (record.state === "open" || record.state === "pending");
  const owedOf = (record: LaneRecord | undefined) =>
    record !== undefined && isUnsettled(record) ? record.charged - record.settledTotal : 0n;

  /** Puts `next` in memory in place of the lane's record, keeping the sums right. */
  function apply(lane: Lane, next: LaneRecord) {
    const consumer = lower(lane.id.consumer);
    const before = owedOf(lane.record);
    const after = owedOf(next);
    const sum = (unsettledByConsumer.get(consumer) ?? 0n) + after - before;
    if (sum === 0n) unsettledByConsumer.delete(consumer);
    else unsettledByConsumer.set(consumer, sum);
    // Queries leave the unsettled count through settlement only, never through a new charge.
    if (after < before) left.set(consumer, (left.get(consumer) ?? 0n) + before - after);
    pending += (isUnsettled(next) ? 1 : 0) - (isUnsettled(lane.record) ? 1 : 0);
    lane.record = next;
  }

  // Lanes waiting for settlement, at start: the unsettled sums and the settler's work come from them.
  for await (const key of db.keys({ gt: "p!", lt: "p!\xff" })) {
    const [, epoch, consumer, laneKey] = key.split("!") as [string, string, Address, Address];
    const id = { consumer, key: laneKey, epoch: BigInt(epoch) };
    const record = readRecord(recordKey(id));
    if (record !== undefined) apply(laneOf(id), record);
  }

  // Group commit: changes queue up while one batch is being flushed, then go out together.
  type Change = {
    lane: Lane;
    /** Edits the draft of the lane's record and returns the other operations of the change. */
    edit(draft: LaneRecord | undefined): { record: LaneRecord | undefined; operations: Operation[] };
  };
  type Entry = { changes: Change[]; resolve: () => void; reject: (error: unknown) => void };
  let queue: Entry[] = [];
  let flushing: Promise<void> | undefined;
  let closed = false;
  async function drain() {
    while (queue.length > 0) {
      const group = queue;
      queue = [];
      const drafts = new Map<Lane, LaneRecord | undefined>();
      const operations: Operation[] = [];
      for (const entry of group) {
        for (const change of entry.changes) {
          const draft = drafts.has(change.lane) ? drafts.get(change.lane) : change.lane.record;
          const edited = change.edit(draft === undefined ? undefined : { ...draft });
          operations.push(...edited.operations);
          drafts.set(change.lane, edited.record);
        }
      }
      for (const [lane, record] of drafts) {
        if (record === undefined || record === lane.record) continue;
        operations.push({ type: "put", key: recordKey(lane.id), value: toStored(record) });
        operations.push(
          isUnsettled(record)
            ? { type: "put", key: pendingKey(lane.id), value: "" }
            : { type: "del", key: pendingKey(lane.id) },
        );
      }
      try {
        if (operations.length > 0) await db.batch(operations, { sync });
      } catch (cause) {
        const error = new WorkerError("STORAGE_UNAVAILABLE", "Cannot write to the usage store.", {
          cause,
          hints: ["Check that the data directory is writable and not full."],
        });
        for (const entry of group) entry.reject(error);
        continue;
      }
      for (const [lane, record] of drafts) if (record !== undefined) apply(lane, record);
      for (const entry of group) entry.resolve();
    }
    flushing = undefined;
  }
  function write(changes: Change[]): Promise<void> {
    if (closed) return Promise.reject(new WorkerError("STORAGE_UNAVAILABLE", "The usage store is closed."));
    return new Promise<void>((resolve, reject) => {
      queue.push({ changes, resolve, reject });
      flushing ??= drain();
    });
  }

  function load(consumer: Address, epoch: bigint): Promise<void> {
    const name = groupName(consumer, epoch);
    if (groups.has(name)) return Promise.resolve();
    let loaded = loading.get(name);
    if (loaded === undefined) {
      loaded = (async () => {
        const group = new Set<Lane>();
        const prefix = `${name}!`;
        for await (const [key, value] of db.iterator({ gt: `l!${prefix}`, lt: `l!${prefix}\xff` })) {
          const laneKey = key.split("!")[3] as Address;
          const lane = laneOf({ consumer, key: laneKey, epoch });
          // A lane written since (its record in memory is newer) keeps what memory holds.
          lane.record ??= fromStored(JSON.parse(value) as StoredRecord);
          group.add(lane);
        }
        for (const lane of group) {
          const served = new Set<bigint>();
          const totals = `t!${laneName(lane.id)}!`;
          for await (const key of db.keys({ gt: totals, lt: `${totals}\xff` })) served.add(BigInt(key.slice(-20)));
          // Totals written while this read ran are already in memory's set, if any.
          for (const total of lane.served ?? []) served.add(total);
          lane.served = served;
        }
        groups.set(name, group);
        loading.delete(name);
      })();
      loading.set(name, loaded);
    }
    return loaded;
  }

  /** The lane for serving: its consumer and epoch must be loaded. */
  function servingLane(id: LaneId): { lane: Lane; group: Set<Lane> } {
    const group = groups.get(groupName(id.consumer, id.epoch));
    if (group === undefined) {
      throw new WorkerError("INTERNAL", `The lanes of ${id.consumer} in epoch ${id.epoch} are not loaded.`, {
        hints: ["A caller of the usage store must await load(consumer, epoch) before reserving a total."],
      });
    }
    const lane = laneOf(id);
    lane.served ??= new Set();
    group.add(lane);
    return { lane, group };
  }

  const maxReserved = (lane: Lane) => {
    let max = 0n;
    for (const total of lane.reserved) if (total > max) max = total;
    return max;
  };
  const chargedWithReserved = (lane: Lane) => {
    const charged = lane.record?.charged ?? 0n;
    const reserved = maxReserved(lane);
    return reserved > charged ? reserved : charged;
  };

  function hold(lane: Lane, total: bigint): Reservation {
    lane.reserved.add(total);
    const consumer = lower(lane.id.consumer);
    let reserving = reservingLanes.get(consumer);
    if (reserving === undefined) reservingLanes.set(consumer, (reserving = new Set()));
    reserving.add(lane);
    let held = true;
    return {
      lane: lane.id,
      total,
      release() {
        if (!held) return;
        held = false;
        lane.reserved.delete(total);
        if (lane.reserved.size === 0) {
          reserving.delete(lane);
          if (reserving.size === 0) reservingLanes.delete(consumer);
        }
      },
    };
  }

  function transition(
    entries: readonly { lane: LaneId }[],
    edit: (record: LaneRecord, index: number) => LaneRecord | undefined,
  ): Promise<void> {
    const changes: Change[] = [];
    entries.forEach((entry, index) => {
      const lane = lanes.get(laneName(entry.lane));
      if (lane?.record === undefined) return;
      changes.push({
        lane,
        edit: (draft) => ({ record: draft === undefined ? undefined : (edit(draft, index) ?? draft), operations: [] }),
      });
    });
    return changes.length === 0 ? Promise.resolve() : write(changes);
  }

  return {
    load,

    reserve(id, total) {
      const { lane } = servingLane(id);
      if (lane.served!.has(total) || lane.reserved.has(total)) throw replayed(lane.id, total);
      return hold(lane, total);
    },

    reserveNext(id) {
      const { lane } = servingLane(id);
      return hold(lane, chargedWithReserved(lane) + 1n);
    },

    charged(consumer, epoch) {
      let sum = 0n;
      for (const lane of groups.get(groupName(consumer, epoch)) ?? []) sum += chargedWithReserved(lane);
      return sum;
    },

    nextTotal(id) {
      const lane = lanes.get(laneName(id));
      return lane === undefined ? 1n : chargedWithReserved(lane) + 1n;
    },

    unsettled(consumer) {
      let sum = unsettledByConsumer.get(lower(consumer)) ?? 0n;
      for (const lane of reservingLanes.get(lower(consumer)) ?? []) {
        const extra = maxReserved(lane) - (lane.record?.charged ?? 0n);
        if (extra > 0n) sum += extra;
      }
      return sum;
    },
    unsettledOfKey(consumer, key) {
      let sum = 0n;
      for (const lane of keyLanes.get(`${lower(consumer)}!${lower(key)}`) ?? []) {
        const charged = lane.record?.charged ?? 0n;
        const reserved = maxReserved(lane);
        sum += owedOf(lane.record) + (reserved > charged ? reserved - charged : 0n);
      }
      return sum;
    },
    settledCount: (consumer) => left.get(lower(consumer)) ?? 0n,
    pendingCount: () => pending,
    lane: (id) => lanes.get(laneName(id))?.record,
    reserving: (id) => (lanes.get(laneName(id))?.reserved.size ?? 0) > 0,

    async record(reservation, fields) {
      try {
        const { lane } = servingLane(reservation.lane);
        const { total } = reservation;
        const at = now().toISOString();
        await write([
          {
            lane,
            edit(draft) {
              const record: LaneRecord = draft ?? {
                lane: lane.id,
                served: 0n,
                charged: 0n,
                voucher: undefined,
                settledTotal: 0n,
                paidWei: 0n,
                state: "open",
                firstServedAt: at,
                lastServedAt: at,
                updatedAt: at,
              };
              record.served += 1n;
              record.lastServedAt = at;
              record.updatedAt = at;
              if (total > record.charged) {
                record.charged = total;
                record.voucher = { ...lane.id, total, ...fields };
                // More to settle: a settled or dropped lane is open again (a pending one stays pending).
                if (record.state === "settled" || record.state === "dropped") {
                  record.state = "open";
                  record.reason = undefined;
                }
              }
              return { record, operations: [{ type: "put", key: totalKey(lane.id, total), value: "" }] };
            },
          },
        ]);
        lane.served!.add(total);
        return lane.record!;
      } finally {
        reservation.release();
      }
    },

    async listUnsettled(options = {}) {
      const records: LaneRecord[] = [];
      const gt = options.after === undefined ? "p!" : pendingKey(options.after);
      for await (const key of db.keys({ gt, lt: "p!\xff", limit: options.limit ?? -1 })) {
        const [, epoch, consumer, laneKey] = key.split("!") as [string, string, Address, Address];
        const record = lanes.get(laneName({ consumer, key: laneKey, epoch: BigInt(epoch) }))?.record;
        if (record !== undefined) records.push(record);
      }
      return records;
    },

    markSubmitted: (entries, transactionHash) =>
      transition(entries, (record, i) => ({
        ...record,
        state: "pending",
        submittedTotal: entries[i]!.total,
        transactionHash,
        updatedAt: now().toISOString(),
      })),

    markSettled: (entries, transactionHash) =>
      transition(entries, (record, i) => {
        const { total, paidWei = 0n } = entries[i]!;
        const settledTotal = total > record.settledTotal ? total : record.settledTotal;
        return {
          ...record,
          settledTotal,
          submittedTotal: undefined,
          paidWei: record.paidWei + paidWei,
          state: settledTotal >= record.charged ? "settled" : "open",
          ...(transactionHash === undefined ? {} : { transactionHash }),
          updatedAt: now().toISOString(),
        };
      }),

    markDropped: (ids, reason) =>
      transition(
        ids.map((lane) => ({ lane })),
        (record) => ({
          ...record,
          state: "dropped",
          submittedTotal: undefined,
          reason,
          updatedAt: now().toISOString(),
        }),
      ),

    async history(consumer) {
      const records: LaneRecord[] = [];
      const prefix = `l!${lower(consumer)}!`;
      for await (const [key, value] of db.iterator({ gt: prefix, lt: `${prefix}\xff` })) {
        const [, , epoch, laneKey] = key.split("!") as [string, Address, string, Address];
        const kept = lanes.get(laneName({ consumer, key: laneKey, epoch: BigInt(epoch) }))?.record;
        records.push(kept ?? fromStored(JSON.parse(value) as StoredRecord));
      }
      return records;
    },

    async close() {
      if (closed) return;
      closed = true;
      await flushing;
      await db.close();
    },
  };
}

function toStored(record: LaneRecord): string {
  const { lane, voucher } = record;
  const stored: StoredRecord = {
    ...record,
    lane: { consumer: lane.consumer, key: lane.key, epoch: lane.epoch.toString() },
    served: record.served.toString(),
    charged: record.charged.toString(),
    voucher:
      voucher === undefined
        ? undefined
        : {
            total: voucher.total.toString(),
            maxFeePerQuery: voucher.maxFeePerQuery.toString(),
            inputHash: voucher.inputHash,
            deadline: voucher.deadline.toString(),
            signature: voucher.signature,
          },
    settledTotal: record.settledTotal.toString(),
    submittedTotal: record.submittedTotal?.toString(),
    paidWei: record.paidWei.toString(),
  };
  return JSON.stringify(stored);
}

function fromStored(stored: StoredRecord): LaneRecord {
  const lane = { consumer: stored.lane.consumer, key: stored.lane.key, epoch: BigInt(stored.lane.epoch) };
  const { voucher } = stored;
  return {
    ...stored,
    lane,
    served: BigInt(stored.served),
    charged: BigInt(stored.charged),
    voucher:
      voucher === undefined
        ? undefined
        : {
            ...lane,
            total: BigInt(voucher.total),
            maxFeePerQuery: BigInt(voucher.maxFeePerQuery),
            inputHash: voucher.inputHash,
            deadline: BigInt(voucher.deadline),
            signature: voucher.signature,
          },
    settledTotal: BigInt(stored.settledTotal),
    submittedTotal: stored.submittedTotal === undefined ? undefined : BigInt(stored.submittedTotal),
    paidWei: BigInt(stored.paidWei),
  };
}
