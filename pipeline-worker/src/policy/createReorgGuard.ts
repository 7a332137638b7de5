import { BlockNotFoundError, type Hex, type PublicClient } from "viem";
import { BaseError } from "../internal/BaseError.ts";

export type BlockHeader = { number: bigint; hash: Hex };

/** A position on the chain; `blockHash` is undefined only before anything was read (nothing to reorganise). */
export type ChainCursor = { blockNumber: bigint; blockHash: Hex | undefined };

/** The chain moved under a read (a reorg while it read); the next attempt reads again. */
export class ChainMovedError extends BaseError {
  override name = "ChainMovedError";
  constructor(message: string) {
    super(message, { retryable: true, hints: ["The sync reads again on its next poll."] });
  }
}

export type ReorgGuard = {
  /** The canonical block at `blockNumber` now, or undefined where the node has none. */
  headerAt(blockNumber: bigint): Promise<BlockHeader | undefined>;
  latestHeader(): Promise<BlockHeader & { timestamp: bigint }>;
  /** Whether the cursor's block is still the canonical one at its height. */
  isCanonical(cursor: ChainCursor): Promise<boolean>;
  /** Throws ChainMovedError with `message` unless the cursor is still canonical. */
  requireCanonical(cursor: ChainCursor, message: string): Promise<void>;
  /**
   * Where to resync from: undefined while `cursor` is canonical; after a reorg, the newest of
   * `checkpoints()` (newest first) still canonical, or `from: undefined` when none is (sync again
   * from the deployment). Checkpoints are read only when a reorg is found.
   */
  resyncPoint<C extends ChainCursor>(
    cursor: ChainCursor,
    checkpoints: () => Promise<readonly C[]>,
  ): Promise<{ from: C | undefined } | undefined>;
  /**
   * Throws ChainMovedError unless every event comes from the block canonical at its height.
   * `known` is a header already read, which saves its request.
   */
  requireCanonicalEvents(events: readonly { blockNumber: bigint; blockHash: Hex }[], known: BlockHeader): Promise<void>;
};

// Block headers requested at once when checking that events come from canonical blocks. The
// node answers them one after another anyway; more at once saves round trips, which were most of
// the time the cold sync bench spent waiting for them at 8.
const HEADER_CONCURRENCY = 32;

/**
 * Detects reorgs by block hashes. A node is not trusted to be consistent across requests (a load
 * balancer can send each to another replica): `eth_getLogs` can answer from a fork that is gone,
 * and the logs' own order or the registry's policy versions do not show it, since both forks
 * number their events alike. So each read is checked against the headers canonical now.
 */
export function createReorgGuard({ client }: { client: PublicClient }): ReorgGuard {
  async function headerAt(blockNumber: bigint): Promise<BlockHeader | undefined> {
    try {
      const block = await client.getBlock({ blockNumber });
      return { number: block.number, hash: block.hash };
    } catch (error) {
      if (error instanceof BlockNotFoundError) return undefined;
      throw error;
    }
  }

  async function isCanonical(cursor: ChainCursor): Promise<boolean> {
    if (cursor.blockHash === undefined) return true;
    return (await headerAt(cursor.blockNumber))?.hash === cursor.blockHash;
  }

  return {
    headerAt,
    async latestHeader() {
      const block = await client.getBlock({ blockTag: "latest" });
      return { number: block.number, hash: block.hash, timestamp: block.timestamp };
    },
    isCanonical,
    async requireCanonical(cursor, message) {
      if (!(await isCanonical(cursor))) throw new ChainMovedError(message);
    },
    async resyncPoint(cursor, checkpoints) {
      if (await isCanonical(cursor)) return undefined;
      for (const checkpoint of await checkpoints()) {
        if (await isCanonical(checkpoint)) return { from: checkpoint };
      }
      return { from: undefined };
    },
    async requireCanonicalEvents(events, known) {
      const canonical = new Map<bigint, Hex | undefined>([[known.number, known.hash]]);
      const unknown = [...new Set(events.map((event) => event.blockNumber))].filter((n) => !canonical.has(n));
      // A few requests at a time: one after the other, a catch-up over thousands of event blocks
      // spends most of its time waiting for the node.
      for (let i = 0; i < unknown.length; i += HEADER_CONCURRENCY) {
        const batch = unknown.slice(i, i + HEADER_CONCURRENCY);
        const headers = await Promise.all(batch.map((blockNumber) => headerAt(blockNumber)));
        batch.forEach((blockNumber, n) => canonical.set(blockNumber, headers[n]?.hash));
      }
      for (const event of events) {
        const hash = canonical.get(event.blockNumber);
        if (hash !== event.blockHash) {
          throw new ChainMovedError(
            `A registry event of block ${event.blockNumber} came from block ${event.blockHash}, not the canonical ${hash ?? "(none)"}.`,
          );
        }
      }
    },
  };
}
