import { mkdir } from "node:fs/promises";
import path from "node:path";
import { unixfs } from "@helia/unixfs";
import { FsBlockstore } from "blockstore-fs";
import { LevelDatastore } from "datastore-level";
import { createHeliaLight } from "helia";
import type { CID } from "multiformats/cid";
import { createSha256Tap } from "../crypto/createSha256Tap.ts";
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
  const fs = unixfs(helia);

  return {
    kind: "helia",

    async put(source, options = {}) {
      const tap = createSha256Tap();
      let cid: CID;
      try {
        cid = await fs.addByteStream(tap.tap(source), { ...heliaImportOptions, signal: options.signal });
        // Pinning walks the DAG once more; it is what keeps the content through a garbage
        // collection, and an add of content already pinned is not an error.
        if (!(await helia.pins.isPinned(cid))) for await (const _ of helia.pins.add(cid, { signal: options.signal }));
      } catch (cause) {
        // Blocks of a put that failed half-way (a refused or broken upload) are pinned by nothing:
        // collect them, so nothing of it is kept.
        await helia.gc().catch(() => {});
        throw isWorkerError(cause) ? cause : storageFailed("store content", cause);
      }
      return { cid, size: tap.bytes, sha256: tap.digest() };
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
        if (await helia.pins.isPinned(parsed)) for await (const _ of helia.pins.rm(parsed));
        // Deletes every block no pin holds; content shared with a pinned DAG stays.
        await helia.gc();
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
