import { mkdir } from "node:fs/promises";
import path from "node:path";
import { FsBlockstore } from "blockstore-fs";
import { LevelDatastore } from "datastore-level";
import { createHeliaLight, type GraphWalkerFactory } from "helia";
import { importFile } from "ipfs-unixfs-importer";
import { CID } from "multiformats/cid";
import { isWorkerError, WorkerError } from "../internal/WorkerError.ts";
import type { ContentStore } from "./ContentStore.ts";
import { createTimedMutex } from "./createTimedMutex.ts";
import { parseCid, readVerified } from "./readVerified.ts";
import { heliaImportOptions } from "./unixfsImportOptions.ts";

export type CreateHeliaContentStoreParameters = {
  /** The repository: blocks in `blocks/`, pins and metadata in `datastore/`. Created if missing. */
  directory: string;
  /**
   * How long a put's pinning or a removal may wait for the store's bookkeeping (other pins and
   * deletions) before it fails with a retryable STORAGE_UNAVAILABLE. Default LOCK_TIMEOUT_MS.
   */
  lockTimeoutMs?: number | undefined;
};

/**
 * The default bound on a wait for the bookkeeping mutex. Its sections are local disk work (pinning
 * a 1 GiB upload's 4,100 blocks is the longest), so a wait this long means a disk in trouble.
 */
export const LOCK_TIMEOUT_MS = 30_000;

/**
 * The default store: an IPFS node embedded in the worker (Helia, without libp2p), persisted to
 * disk, so that one command runs everything on one machine. It does not serve content to the
 * IPFS network; operators who need that run Kubo (createKuboContentStore) behind the same
 * interface.
 */
export async function createHeliaContentStore(parameters: CreateHeliaContentStoreParameters): Promise<ContentStore> {
  const blockstore = new FsBlockstore(path.join(parameters.directory, "blocks"));
  const datastore = new LevelDatastore(path.join(parameters.directory, "datastore"));
  try {
    await mkdir(parameters.directory, { recursive: true });
    await blockstore.open();
    await datastore.open();
  } catch (cause) {
    throw new WorkerError("STORAGE_UNAVAILABLE", `Cannot open the IPFS repository in ${parameters.directory}.`, {
      cause,
      hints: [
        "Check that the data directory is writable and not full.",
        "Only one worker may use a repository at a time: stop any other worker using the same dataDir.",
      ],
    });
  }
  const helia = createHeliaLight({ blockstore, datastore });
  await helia.start();
  // Uploads stream into the blockstore with no lock held: they are paced by their clients, and a
  // stalled one must not hold up anything else. Only the garbage collector's bookkeeping (pinning,
  // unpinning, deleting unpinned blocks) takes this mutex, for local work of bounded length, and a
  // wait for it is bounded too: past the timeout the caller gets a retryable STORAGE_UNAVAILABLE.
  const bookkeeping = createTimedMutex({
    timeoutMs: parameters.lockTimeoutMs ?? LOCK_TIMEOUT_MS,
    timedOut: (waitedMs) =>
      new WorkerError("STORAGE_UNAVAILABLE", `The embedded IPFS store was busy for ${waitedMs} ms.`, {
        hints: ["Retry later.", "Operators: check that the data directory's disk is not overloaded."],
      }),
  });
  // Blocks (by multihash, as blockstore-fs names their files) that puts in flight have written or
  // are writing and have not pinned yet, with how many puts hold each. A deletion spares them
  // although no pin holds them: the same content may be arriving twice, or again after a remove.
  const writing = new Map<string, number>();
  // Deletions under way, by multihash: a put that needs such a block writes it once it is gone.
  const deleting = new Map<string, Promise<void>>();
  // Blocks pinned by nothing that are still to be deleted: those of failed puts and of removed
  // content. Each removal and each failed put's cleanup deletes them all, so one that could not get
  // the mutex in time is done by the next.
  const unreferenced = new Map<string, CID>();

  /** Deletes the unreferenced blocks that no pin and no put in flight holds. Call with `bookkeeping` held. */
  async function deleteUnreferenced(): Promise<void> {
    for (const [key, cid] of unreferenced) {
      unreferenced.delete(key);
      if (writing.has(key) || (await helia.pins.isPinned(cid))) continue;
      // Checked again after the await: a put may have started writing it meanwhile. From here to
      // `deleting.set` nothing awaits, so a put that starts now waits for the deletion.
      if (writing.has(key)) continue;
      const deletion = blockstore.delete(cid).finally(() => deleting.delete(key));
      deleting.set(key, deletion);
      await deletion;
    }
  }

  /** Queues `cids` for deletion and deletes them now if the bookkeeping mutex comes in time. */
  async function collectGarbage(cids: Iterable<CID>): Promise<void> {
    for (const cid of cids) unreferenced.set(blockKey(cid), cid);
    await bookkeeping.run(deleteUnreferenced);
  }

  return {
    kind: "helia",

    async put(source, options = {}) {
      let size = 0;
      const writer = createBlockWriter(blockstore, { writing, deleting, signal: options.signal });
      let cid: CID;
      try {
        // The importer takes no signal; an abort stops the put at its next block write.
        const counted = async function* () {
          for await (const chunk of source) {
            size += chunk.byteLength;
            yield chunk;
          }
        };
        const imported = await importFile({ content: counted() }, writer, heliaImportOptions);
        await writer.flush();
        // The importer's CID comes from its own copy of multiformats; this store hands out ours.
        const root = CID.parse(imported.cid.toString());
        cid = await bookkeeping.run(async () => {
          // An add of content already pinned is not an error.
          if (!(await helia.pins.isPinned(root))) {
            for await (const _ of helia.pins.add(root, {
              signal: options.signal,
              walker: listedBlocks(writer.written),
            }));
          }
          return root;
        });
      } catch (cause) {
        // Blocks of a put that failed half-way (a refused or broken upload) are pinned by nothing.
        await writer.flush().catch(() => {});
        writer.release();
        // Deleted now, or by the next bookkeeping section if this one cannot get the mutex in time.
        await collectGarbage(writer.written).catch(() => {});
        throw isWorkerError(cause) ? cause : storageFailed("store content", cause);
      }
      writer.release();
      return { cid, size };
    },

    get(cid, options = {}) {
      // Reads go to the local blockstore directly: this node has no network to fetch from, and
      // a missing block must be an error at once, not a wait for peers that never come.
      return readVerified(
        cid,
        async (blockCid, { signal }) => {
          try {
            const chunks: Uint8Array[] = [];
            for await (const chunk of blockstore.get(blockCid, { signal })) chunks.push(chunk);
            return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
          } catch (cause) {
            if (cause instanceof Error && cause.name === "NotFoundError") {
              throw new WorkerError("NOT_FOUND", `${blockCid} is not in this IPFS repository.`, { cause });
            }
            throw storageFailed("read a block", cause);
          }
        },
        options,
      );
    },

    async has(cid) {
      const parsed = parseCid(cid);
      try {
        return await helia.pins.isPinned(parsed);
      } catch (cause) {
        throw storageFailed("check a pin", cause);
      }
    },

    async remove(cid) {
      const parsed = parseCid(cid);
      try {
        await bookkeeping.run(async () => {
          if (await helia.pins.isPinned(parsed)) {
            for await (const block of helia.pins.rm(parsed)) unreferenced.set(blockKey(block), block);
          }
          await deleteUnreferenced();
        });
      } catch (cause) {
        throw isWorkerError(cause) ? cause : storageFailed("remove content", cause);
      }
    },

    async close() {
      // helia.stop() leaves stores that were passed in open; closing them is ours to do.
      await helia.stop();
      await blockstore.close();
      await datastore.close();
    },
  };
}

function storageFailed(what: string, cause: unknown): WorkerError {
  return new WorkerError("STORAGE_UNAVAILABLE", `The embedded IPFS store failed to ${what}.`, {
    cause,
    hints: ["Check that the data directory is writable and not full."],
  });
}

/** Blocks being written at once: 4 MiB of 256 KiB leaves. */
const WRITES_IN_FLIGHT = 16;

/** A block's name in the blockstore and the pins: its multihash (a raw and a dag-pb CID of the same bytes share it). */
function blockKey(cid: CID): string {
  return Buffer.from(cid.multihash.bytes).toString("base64");
}

type BlockWriterParameters = {
  /** Blocks held by puts in flight, with how many hold each (shared by all puts). */
  writing: Map<string, number>;
  /** Deletions under way (shared by all puts and deletions). */
  deleting: Map<string, Promise<void>>;
  signal: AbortSignal | undefined;
};

/**
 * The importer's blockstore: it notes each block's CID, so that pinning need not walk the DAG
 * (which reads every block back) and a put that fails half-way knows exactly what to delete. It
 * writes behind: `put` returns as soon as fewer than WRITES_IN_FLIGHT writes are pending, so the
 * disk (in libuv's thread pool) works while this thread hashes and encrypts the next blocks,
 * rather than after. `flush` waits for every write and throws the first that failed.
 *
 * Each block is marked as held in `writing` before it is written, until `release` (once the put
 * has pinned its blocks or given up), so that no deletion removes it in between.
 */
function createBlockWriter(blockstore: FsBlockstore, { writing, deleting, signal }: BlockWriterParameters) {
  const written: CID[] = [];
  const held = new Set<string>();
  const pending = new Set<Promise<void>>();
  let failure: { cause: unknown } | undefined;
  let released = false;
  // A write the importer starts after its put gave up (one of a batch still running) must neither
  // hold its block again nor write it: the put's cleanup has already been decided.
  const givenUp = () => new WorkerError("INTERNAL", "A block was written after its put had ended.");
  return {
    written,
    async put(cid: CID, bytes: Uint8Array) {
      if (failure) throw failure.cause;
      if (released) throw givenUp();
      written.push(cid);
      const key = blockKey(cid);
      if (!held.has(key)) {
        held.add(key);
        writing.set(key, (writing.get(key) ?? 0) + 1);
      }
      // A deletion of this very block that began before it was held: write it once that is done.
      const deletion = deleting.get(key);
      if (deletion) await deletion.catch(() => {});
      if (released) throw givenUp();
      const write: Promise<void> = blockstore.put(cid, bytes, { signal }).then(
        () => void pending.delete(write),
        (cause: unknown) => {
          pending.delete(write);
          failure ??= { cause };
        },
      );
      pending.add(write);
      while (pending.size >= WRITES_IN_FLIGHT) await Promise.race(pending);
      return cid;
    },
    async flush() {
      await Promise.all(pending);
      if (failure) throw failure.cause;
    },
    /** Lets deletions have this put's blocks again. Idempotent. */
    release() {
      released = true;
      for (const key of held) {
        const holders = writing.get(key)! - 1;
        if (holders === 0) writing.delete(key);
        else writing.set(key, holders);
      }
      held.clear();
    },
  };
}

/**
 * A graph walker for `pins.add` that yields blocks the caller already knows make up the DAG
 * (because it just wrote them), instead of reading each one back from disk and decoding it.
 */
function listedBlocks(cids: CID[]): GraphWalkerFactory {
  const walker = {
    async *walk() {
      for (const cid of cids) yield { block: { cid }, depth: 0, path: [] };
    },
  };
  return (() => walker) as unknown as GraphWalkerFactory;
}
