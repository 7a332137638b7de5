import { setTimeout as sleep } from "node:timers/promises";
import type { CID } from "multiformats/cid";
import { WorkerError } from "../../src/internal/WorkerError.ts";
import type { ByteSource, ContentStore, GetOptions } from "../../src/storage/ContentStore.ts";

export type ContentStoreFault = {
  /** Which calls fail: `put` (storing), `get` (reading back), or both. */
  fail?: "put" | "get" | "all" | undefined;
  /** A `put` fails after this many chunks went through (a node that dies mid-upload). Default 0. */
  afterChunks?: number;
  /** Only the n-th `put` from now on fails (1 = the next), as a node failing between two writes. */
  onlyPut?: number;
  /** Only reads from the n-th on fail (1 = all), as a node failing in the middle of a run. */
  fromGet?: number;
  /**
   * Every MiB written or read takes this long, each chunk its share: a slow disk or a congested
   * node. By size rather than per chunk, since how a stream is cut is not the node's doing.
   */
  msPerMiB?: number;
};

/**
 * A content store in front of a real one (Helia) that fails or slows down on demand, failing as
 * the adapters do when their node fails: with STORAGE_UNAVAILABLE. It keeps the CIDs it stored and
 * removed, so a test can tell whether anything a refused upload wrote was kept.
 */
export function createFaultyContentStore(inner: ContentStore) {
  let fault: ContentStoreFault = {};
  let puts = 0;
  let gets = 0;
  const kept = new Set<string>();
  const injected = { put: 0, get: 0, slowed: 0 };

  const unavailable = (what: string) =>
    new WorkerError("STORAGE_UNAVAILABLE", `The IPFS node failed to ${what} (injected fault).`, {
      hints: ["Retry later."],
    });

  async function slowDown(chunk: Uint8Array) {
    if (!fault.msPerMiB) return;
    injected.slowed++;
    await sleep((fault.msPerMiB * chunk.byteLength) / (1024 * 1024));
  }

  async function* pace(source: ByteSource, failAfter: number | undefined): AsyncGenerator<Uint8Array> {
    let chunks = 0;
    for await (const chunk of source) {
      if (failAfter !== undefined && chunks >= failAfter) {
        injected.put++;
        throw unavailable("store content");
      }
      await slowDown(chunk);
      chunks++;
      yield chunk;
    }
    if (failAfter !== undefined) {
      injected.put++;
      throw unavailable("store content");
    }
  }

  const store: ContentStore = {
    kind: inner.kind,
    async put(source, options) {
      puts++;
      const failing =
        (fault.fail === "put" || fault.fail === "all") && (fault.onlyPut === undefined || fault.onlyPut === puts);
      const result = await inner.put(pace(source, failing ? (fault.afterChunks ?? 0) : undefined), options);
      kept.add(result.cid.toString());
      return result;
    },
    async *get(cid: CID | string, options?: GetOptions) {
      gets++;
      if ((fault.fail === "get" || fault.fail === "all") && gets >= (fault.fromGet ?? 1)) {
        injected.get++;
        throw unavailable("return a block");
      }
      for await (const chunk of inner.get(cid, options)) {
        await slowDown(chunk);
        yield chunk;
      }
    },
    has: (cid) => inner.has(cid),
    async remove(cid) {
      await inner.remove(cid);
      kept.delete(cid.toString());
    },
    close: () => inner.close(),
  };

  return {
    store,
    injected,
    /** Sets the fault from now on (`{}` heals it); `onlyPut` and `fromGet` count from this call. */
    set(next: ContentStoreFault) {
      fault = next;
      puts = 0;
      gets = 0;
    },
    /** CIDs stored through this wrapper and not removed since. */
    kept: () => [...kept],
  };
}

export type FaultyContentStore = ReturnType<typeof createFaultyContentStore>;
