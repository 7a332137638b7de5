import { mkdir } from "node:fs/promises";
import { ClassicLevel } from "classic-level";
import type { Address, Hex } from "viem";
import { WorkerError } from "../internal/WorkerError.ts";
import type { AlertPayload } from "./alertPayload.ts";
import type { ProposalChange, TrackedProposal } from "./decodeAlertEvents.ts";

/** The last block the notifier processed completely: every alert up to it is in the outbox or sent. */
export type NotifierCursor = { blockNumber: bigint; blockHash: Hex };

/** One alert still to be delivered to one subscription. */
export type PendingDelivery = {
  alertId: string;
  /** The subscription's name, e.g. `webhook:ops` or `email:owners`. */
  target: string;
  /** Failed attempts so far. */
  attempts: number;
  /** Milliseconds since the epoch. */
  nextAttemptAt: number;
  lastError: string | null;
};

/** A line of the delivery log: what happened to one attempt. */
export type DeliveryLogEntry = {
  at: string;
  alertId: string;
  type: AlertPayload["type"];
  target: string;
  attempt: number;
  outcome: "delivered" | "retrying" | "gave-up" | "dropped";
  /** The stable code of the failure (WEBHOOK_DELIVERY_FAILED, EMAIL_DELIVERY_FAILED), null on success. */
  code: string | null;
  /** The receiver's HTTP status, when it answered. */
  status: number | null;
  error: string | null;
  durationMs: number | null;
};

/** A range the notifier processed: its alerts (each with the subscriptions it goes to), watched proposals, the new cursor. */
export type NotifierCommit = {
  cursor: NotifierCursor;
  alerts: { alert: AlertPayload; targets: string[] }[];
  proposals: (ProposalChange | { op: "ending-alerted"; proposalId: string; deadline: string })[];
};

export type NotifierStore = {
  /** Why the store was cleared at open (another chain or deployment), if it was. */
  readonly resetReason: string | undefined;
  cursor(): Promise<NotifierCursor | undefined>;
  /**
   * Writes a processed range in one atomic batch: alerts not already known with their deliveries,
   * the watched proposals, the cursor. A crash leaves the range either wholly processed or not at
   * all, so after a restart nothing is lost and nothing is queued twice. Returns the new alerts.
   */
  commit(commit: NotifierCommit): Promise<AlertPayload[]>;
  /** Moves the cursor back (a reorg); alerts already known stay known, so they are not sent again. */
  rewind(cursor: NotifierCursor | undefined): Promise<void>;
  trackedProposals(): Promise<TrackedProposal[]>;
  /** Every proposal title seen, by proposal id. */
  titles(): Promise<Map<string, string | null>>;
  alert(id: string): Promise<AlertPayload | undefined>;
  /** Recent alerts, newest first. */
  recentAlerts(limit: number): Promise<AlertPayload[]>;
  /** Every pending delivery, soonest first. */
  pendingDeliveries(): Promise<PendingDelivery[]>;
  /** Records an attempt: a success or a final failure removes the delivery, a retry reschedules it. */
  recordAttempt(
    delivery: PendingDelivery,
    entry: DeliveryLogEntry,
    next: { nextAttemptAt: number; lastError: string } | undefined,
  ): Promise<void>;
  /** The delivery log, newest first. */
  deliveryLog(limit: number): Promise<DeliveryLogEntry[]>;
  close(): Promise<void>;
};

export type NotifierIdentity = { chainId: number; governor: Address; registry: Address; deploymentBlockHash: Hex };

// Key layout. Every write is one LevelDB batch, fsynced.
//   meta!identity                  -> NotifierIdentity: the chain and contracts this state is about
//   meta!cursor                    -> NotifierCursor (decimal block number)
//   meta!seq                       -> the last sequence number used (alerts and log lines)
//   alert!<id>                     -> { seq, alert }: every alert made, so none is made twice
//   alerts!<seq>                   -> <id>: alerts in the order they were made
//   out!<alertId>!<target>         -> PendingDelivery: the outbox
//   prop!<proposalId>              -> TrackedProposal: votes watched for their end
//   title!<proposalId>             -> its title, kept after the vote for the queued and executed alerts
//   log!<seq>                      -> DeliveryLogEntry
// Sequence numbers are zero-padded so that LevelDB's byte order is their order.
const IDENTITY_KEY = "meta!identity";
const CURSOR_KEY = "meta!cursor";
const SEQ_KEY = "meta!seq";
/** Log lines kept; older ones are deleted as new ones come. */
const LOG_LINES_KEPT = 10_000;
type BatchOperation = { type: "put"; key: string; value: string } | { type: "del"; key: string };
const pad = (seq: number) => seq.toString().padStart(16, "0");

/**
 * The notifier's durable state in its data directory: an embedded LevelDB (classic-level, as the
 * worker's journal), which also locks the directory so that two notifiers cannot share it and
 * send everything twice. State about another chain or deployment is cleared at open, because its
 * cursor and proposals mean nothing on this one.
 */
export async function createNotifierStore(parameters: {
  directory: string;
  identity: NotifierIdentity;
}): Promise<NotifierStore> {
  const { directory, identity } = parameters;
  const db = new ClassicLevel<string, string>(directory, { keyEncoding: "utf8", valueEncoding: "utf8" });
  try {
    await mkdir(directory, { recursive: true });
    await db.open();
  } catch (cause) {
    throw new WorkerError("STORAGE_UNAVAILABLE", `Cannot open the notifier's state in ${directory}.`, {
      cause,
      hints: [
        "Only one notifier may use a data directory at a time: stop any other notifier using it.",
        "Check that the data directory is writable and not full.",
      ],
    });
  }
  const wanted = JSON.stringify({
    ...identity,
    governor: identity.governor.toLowerCase(),
    registry: identity.registry.toLowerCase(),
  });
  const stored = await db.get(IDENTITY_KEY);
  let resetReason: string | undefined;
  if (stored !== undefined && stored !== wanted) {
    resetReason = `it was about another chain or deployment (${stored})`;
    await db.clear();
  }
  if (stored !== wanted) await db.put(IDENTITY_KEY, wanted, { sync: true });

  let seq = Number((await db.get(SEQ_KEY)) ?? 0);
  // Writes are read-modify-write on the sequence: one at a time.
  let queue: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(run: () => Promise<T>): Promise<T> => {
    const result = queue.then(run);
    queue = result.catch(() => undefined);
    return result;
  };

  async function values<T>(prefix: string, options: { limit?: number; reverse?: boolean } = {}): Promise<T[]> {
    const found: T[] = [];
    for await (const value of db.values({
      gt: prefix,
      lt: `${prefix}\xff`,
      limit: options.limit ?? -1,
      reverse: options.reverse ?? false,
    })) {
      found.push(JSON.parse(value) as T);
    }
    return found;
  }

  return {
    resetReason,

    async cursor() {
      const value = await db.get(CURSOR_KEY);
      if (value === undefined) return undefined;
      const parsed = JSON.parse(value) as { blockNumber: string; blockHash: Hex };
      return { blockNumber: BigInt(parsed.blockNumber), blockHash: parsed.blockHash };
    },

    commit(commit) {
      return exclusive(async () => {
        const operations: BatchOperation[] = [];
        const fresh: AlertPayload[] = [];
        for (const { alert, targets } of commit.alerts) {
          if ((await db.get(`alert!${alert.id}`)) !== undefined) continue;
          seq += 1;
          fresh.push(alert);
          operations.push({ type: "put", key: `alert!${alert.id}`, value: JSON.stringify({ seq, alert }) });
          operations.push({ type: "put", key: `alerts!${pad(seq)}`, value: JSON.stringify(alert.id) });
          for (const target of targets) {
            const delivery: PendingDelivery = {
              alertId: alert.id,
              target,
              attempts: 0,
              nextAttemptAt: 0,
              lastError: null,
            };
            operations.push({ type: "put", key: `out!${alert.id}!${target}`, value: JSON.stringify(delivery) });
          }
        }
        // Applied in order on a copy, so that a proposal created and queued in one range ends untracked.
        const proposals = new Map<string, TrackedProposal | null>();
        const current = async (id: string) => {
          if (proposals.has(id)) return proposals.get(id) ?? undefined;
          const value = await db.get(`prop!${id}`);
          return value === undefined ? undefined : (JSON.parse(value) as TrackedProposal);
        };
        for (const change of commit.proposals) {
          if (change.op === "track") {
            proposals.set(change.proposal.proposalId, change.proposal);
            operations.push({
              type: "put",
              key: `title!${change.proposal.proposalId}`,
              value: JSON.stringify(change.proposal.title),
            });
          } else if (change.op === "untrack") proposals.set(change.proposalId, null);
          else {
            const proposal = await current(change.proposalId);
            if (proposal === undefined) continue;
            proposals.set(
              change.proposalId,
              change.op === "extend"
                ? { ...proposal, deadline: change.deadline }
                : { ...proposal, endingAlertedFor: change.deadline },
            );
          }
        }
        for (const [id, proposal] of proposals) {
          operations.push(
            proposal === null
              ? { type: "del", key: `prop!${id}` }
              : { type: "put", key: `prop!${id}`, value: JSON.stringify(proposal) },
          );
        }
        operations.push({
          type: "put",
          key: CURSOR_KEY,
          value: JSON.stringify({
            blockNumber: commit.cursor.blockNumber.toString(),
            blockHash: commit.cursor.blockHash,
          }),
        });
        operations.push({ type: "put", key: SEQ_KEY, value: String(seq) });
        await db.batch(operations, { sync: true });
        return fresh;
      });
    },

    rewind(cursor) {
      return exclusive(async () => {
        if (cursor === undefined) await db.del(CURSOR_KEY, { sync: true });
        else {
          await db.put(
            CURSOR_KEY,
            JSON.stringify({ blockNumber: cursor.blockNumber.toString(), blockHash: cursor.blockHash }),
            { sync: true },
          );
        }
      });
    },

    trackedProposals: () => values<TrackedProposal>("prop!"),

    async titles() {
      const titles = new Map<string, string | null>();
      for await (const [key, value] of db.iterator({ gt: "title!", lt: "title!\xff" })) {
        titles.set(key.slice("title!".length), JSON.parse(value) as string | null);
      }
      return titles;
    },

    async alert(id) {
      const value = await db.get(`alert!${id}`);
      return value === undefined ? undefined : (JSON.parse(value) as { alert: AlertPayload }).alert;
    },

    async recentAlerts(limit) {
      const ids = await values<string>("alerts!", { limit, reverse: true });
      const found: AlertPayload[] = [];
      for (const id of ids) {
        const value = await db.get(`alert!${id}`);
        if (value !== undefined) found.push((JSON.parse(value) as { alert: AlertPayload }).alert);
      }
      return found;
    },

    async pendingDeliveries() {
      const pending = await values<PendingDelivery>("out!");
      return pending.sort((a, b) => a.nextAttemptAt - b.nextAttemptAt);
    },

    recordAttempt(delivery, entry, next) {
      return exclusive(async () => {
        seq += 1;
        const key = `out!${delivery.alertId}!${delivery.target}`;
        const operations: BatchOperation[] = [
          next === undefined
            ? { type: "del", key }
            : {
                type: "put",
                key,
                value: JSON.stringify({ ...delivery, attempts: delivery.attempts + 1, ...next }),
              },
          { type: "put", key: `log!${pad(seq)}`, value: JSON.stringify(entry) },
          { type: "put", key: SEQ_KEY, value: String(seq) },
        ];
        if (seq > LOG_LINES_KEPT) operations.push({ type: "del", key: `log!${pad(seq - LOG_LINES_KEPT)}` });
        await db.batch(operations, { sync: true });
      });
    },

    deliveryLog: (limit) => values<DeliveryLogEntry>("log!", { limit, reverse: true }),

    async close() {
      await queue;
      await db.close();
    },
  };
}
