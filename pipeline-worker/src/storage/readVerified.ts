import { exporter } from "ipfs-unixfs-exporter";
import { CID } from "multiformats/cid";
import { isWorkerError, WorkerError } from "../internal/WorkerError.ts";
import { createSha256Tap } from "../crypto/createSha256Tap.ts";
import type { GetOptions } from "./ContentStore.ts";
import { verifyBlock } from "./verifyBlock.ts";

// Left unset, the exporter fetches every child of a DAG node at once: 174 blocks of 256 KiB held
// in memory per layer. Eight in flight keep a disk or an HTTP connection pool busy (a one-off
// measurement: three times faster than unbounded on the local blockstore; not in `npm run bench`) while holding 2 MiB.
const BLOCK_READ_CONCURRENCY = 8;

/** Fetches one block's bytes from wherever the adapter keeps them; throws NOT_FOUND when absent. */
export type GetBlock = (cid: CID, options: { signal?: AbortSignal | undefined }) => Promise<Uint8Array>;

/**
 * Streams a UnixFS file (or raw block) by walking its DAG one verified block at a time. The
 * walking is ipfs-unixfs-exporter's; the adapter only says how to fetch a block. Verification
 * sits between the two, so neither adapter can forget it and a node that serves wrong bytes is
 * caught at the first wrong block.
 */
export async function* readVerified(
  cid: CID | string,
  getBlock: GetBlock,
  options: GetOptions = {},
): AsyncGenerator<Uint8Array> {
  const root = parseCid(cid);
  const blockstore = {
    async *get(blockCid: CID, blockOptions: { signal?: AbortSignal } = {}) {
      const bytes = await getBlock(blockCid, { signal: blockOptions.signal ?? options.signal });
      verifyBlock(blockCid, bytes);
      yield bytes;
    },
  };
  let entry;
  try {
    // The root goes in as a string: the exporter recognises only CID objects of its own copy of
    // multiformats, and npm may install several copies of the same version side by side.
    entry = await exporter(root.toString(), blockstore, { signal: options.signal });
  } catch (error) {
    throw isWorkerError(error)
      ? error
      : new WorkerError("VALIDATION_FAILED", `${root} is not readable content.`, { cause: error });
  }
  if (entry.type !== "file" && entry.type !== "raw") {
    throw new WorkerError("VALIDATION_FAILED", `${root} is a ${entry.type}, not a file.`, {
      hints: ["Submissions and key shares are stored as single files; check the CID."],
    });
  }
  const tap = createSha256Tap();
  yield* tap.tap(entry.content({ signal: options.signal, blockReadConcurrency: BLOCK_READ_CONCURRENCY }));
  if (options.sha256 !== undefined && !Buffer.from(tap.digest()).equals(Buffer.from(options.sha256))) {
    throw new WorkerError("CONTENT_INTEGRITY_FAILED", `The content of ${root} does not have the expected SHA-256.`, {
      hints: ["The CID and the expected hash belong to different content: check which submission they came from."],
    });
  }
}

export function parseCid(cid: CID | string): CID {
  if (typeof cid !== "string") return cid;
  try {
    return CID.parse(cid);
  } catch (cause) {
    throw new WorkerError("VALIDATION_FAILED", `${JSON.stringify(cid)} is not a CID.`, {
      cause,
      hints: ["A CID looks like bafy… (CIDv1, base32) or Qm… (CIDv0)."],
    });
  }
}
