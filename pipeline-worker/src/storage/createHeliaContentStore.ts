import { mkdir } from "node:fs/promises";
import path from "node:path";
import { FsBlockstore } from "blockstore-fs";
import { LevelDatastore } from "datastore-level";
import { createHeliaLight, type GraphWalkerFactory } from "helia";
import { importFile } from "ipfs-unixfs-importer";
import { CID } from "multiformats/cid";
import { isWorkerError, WorkerError } from "../internal/WorkerError.ts";
import type { ContentStore } from "./ContentStore.ts";
import { parseCid, readVerified } from "./readVerified.ts";
import { heliaImportOptions } from "./unixfsImportOptions.ts";

export type CreateHeliaContentStoreParameters = {
  /** The repository: blocks in `blocks/`, pins and metadata in `datastore/`. Created if missing. */
  directory: string;
};

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
  // Puts share this lock and deletions take it alone: a deletion must not remove a block that a
  // put in flight has written but not pinned yet (the same content may be arriving twice).
  const lock = createSharedExclusiveLock();

  /** Deletes those of `cids` that no pin holds; content shared with a pinned DAG stays. */
  async function deleteUnpinned(cids: Iterable<CID>): Promise<void> {
    for (const cid of new Set(cids)) {
      if (!(await helia.pins.isPinned(cid))) await blockstore.delete(cid);
    }
  }

  return {
    kind: "helia",

    async put(source, options = {}) {
      let size = 0;
      const writer = createBlockWriter(blockstore, options.signal);
      let cid: CID;
      try {
        cid = await lock.shared(async () => {
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
        await lock.exclusive(() => deleteUnpinned(writer.written)).catch(() => {});
        throw isWorkerError(cause) ? cause : storageFailed("store content", cause);
      }
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
        await lock.exclusive(async () => {
          if (!(await helia.pins.isPinned(parsed))) return;
          const unpinned: CID[] = [];
          for await (const block of helia.pins.rm(parsed)) unpinned.push(block);
          await deleteUnpinned(unpinned);
        });
      } catch (cause) {
        throw storageFailed("remove content", cause);
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

/**
 * The importer's blockstore: it notes each block's CID, so that pinning need not walk the DAG
 * (which reads every block back) and a put that fails half-way knows exactly what to delete. It
 * writes behind: `put` returns as soon as fewer than WRITES_IN_FLIGHT writes are pending, so the
 * disk (in libuv's thread pool) works while this thread hashes and encrypts the next blocks,
 * rather than after. `flush` waits for every write and throws the first that failed.
 */
function createBlockWriter(blockstore: FsBlockstore, signal: AbortSignal | undefined) {
  const written: CID[] = [];
  const pending = new Set<Promise<void>>();
  let failure: { cause: unknown } | undefined;
  return {
    written,
    async put(cid: CID, bytes: Uint8Array) {
      if (failure) throw failure.cause;
      written.push(cid);
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

/**
 * A readers-writer lock without fairness beyond this: while one `exclusive` section waits or
 * runs, new `shared` sections wait for it.
 */
function createSharedExclusiveLock() {
  let readers = 0;
  let writer: Promise<void> | undefined;
  let drained: (() => void) | undefined;
  return {
    async shared<T>(run: () => Promise<T>): Promise<T> {
      while (writer) await writer;
      readers++;
      try {
        return await run();
      } finally {
        if (--readers === 0) drained?.();
      }
    },
    async exclusive<T>(run: () => Promise<T>): Promise<T> {
      while (writer) await writer;
      let done!: () => void;
      writer = new Promise((resolve) => (done = resolve));
      try {
        if (readers > 0) await new Promise<void>((resolve) => (drained = resolve));
        drained = undefined;
        return await run();
      } finally {
        writer = undefined;
        done();
      }
    },
  };
}
