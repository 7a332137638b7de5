import { once } from "node:events";
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { PassThrough } from "node:stream";
import { create, type HTTPRPCOptions } from "kubo-rpc-client";
import type { CID } from "multiformats/cid";
import { redactUrls } from "../internal/redactUrls.ts";
import { isWorkerError, WorkerError } from "../internal/WorkerError.ts";
import { computeCid } from "./computeCid.ts";
import type { ContentStore } from "./ContentStore.ts";
import { parseCid, readVerified } from "./readVerified.ts";
import { CHUNK_BYTES, kuboAddOptions } from "./unixfsImportOptions.ts";

export type CreateKuboContentStoreParameters = {
  /** The Kubo node's RPC API, e.g. http://127.0.0.1:5001. */
  url: string;
  /** How long one RPC call may take before it fails as STORAGE_UNAVAILABLE. */
  timeoutMs?: number;
};

/**
 * A store on an external Kubo node (or anything speaking its RPC API, such as an IPFS Cluster
 * proxy), through kubo-rpc-client (the maintained successor of the deprecated ipfs-http-client,
 * the same RPC calls). The node is not trusted with integrity: the worker computes
 * each CID itself while uploading and checks it against the node's answer, and reads raw blocks
 * (/api/v0/block/get) and verifies each against its CID instead of taking /api/v0/cat's bytes on
 * faith. The RPC endpoints used: add, block/get, pin/ls, pin/rm.
 */
export function createKuboContentStore(parameters: CreateKuboContentStoreParameters): ContentStore {
  // An agent of our own, so close() can end its keep-alive sockets; otherwise they hold the
  // process open after shutdown.
  const agent = parameters.url.startsWith("https:")
    ? new HttpsAgent({ keepAlive: true, maxSockets: 8 })
    : new HttpAgent({ keepAlive: true, maxSockets: 8 });
  const client = create({ url: parameters.url, agent, timeout: parameters.timeoutMs ?? 60_000 });
  // How the node is named in messages: its origin, never the credentials a Kubo URL may carry.
  const where = redactUrls(parameters.url);
  const unavailable = (what: string, cause: unknown) =>
    new WorkerError("STORAGE_UNAVAILABLE", `The Kubo node at ${where} failed to ${what}.`, {
      cause,
      hints: [
        "Check that the Kubo daemon is running and that storage.kuboUrl points at its RPC API (port 5001 by default).",
      ],
    });

  return {
    kind: "kubo",

    async put(source, options = {}) {
      let size = 0;
      // One pass over the source feeds both the local CID computation and the upload. The
      // upload buffer is bounded: when the node reads slower than we hash, hashing waits.
      const upload = new PassThrough({ highWaterMark: 4 * CHUNK_BYTES });
      async function* feed() {
        try {
          for await (const chunk of source) {
            size += chunk.byteLength;
            if (!upload.write(chunk)) await once(upload, "drain");
            yield chunk;
          }
          upload.end();
        } catch (error) {
          upload.destroy(error instanceof Error ? error : undefined);
          throw error;
        }
      }
      const added = client
        .add({ content: upload }, { ...kuboAddOptions, signal: options.signal })
        .catch((cause: unknown) => {
          // A failed upload stops draining the buffer; failing it releases the hashing side.
          upload.destroy(cause instanceof Error ? cause : undefined);
          throw cause;
        });
      let expected: CID;
      let answered: { cid: { toString(): string } };
      try {
        [expected, answered] = await Promise.all([computeCid(feed()), added]);
      } catch (cause) {
        throw isWorkerError(cause) ? cause : unavailable("store content", cause);
      }
      if (answered.cid.toString() !== expected.toString()) {
        throw new WorkerError(
          "CONTENT_INTEGRITY_FAILED",
          `The Kubo node stored the content as ${answered.cid} but it is ${expected}.`,
          {
            hints: [
              "The node imports with other settings than the worker: reset Kubo's Import.UnixFSChunker and Import.UnixFSFileMaxLinks to their defaults.",
              "Otherwise the node is faulty: do not use it.",
            ],
          },
        );
      }
      return { cid: expected, size };
    },

    get(cid, options = {}) {
      return readVerified(
        cid,
        async (blockCid, { signal }) => {
          try {
            // offline: a block the node lacks is an error now, not a search of the network that
            // outlives the request. `offline` is a global flag of Kubo's RPC API that the client
            // passes on as a query parameter but does not declare in its types.
            return await client.block.get(blockCid, { offline: true, signal } as HTTPRPCOptions);
          } catch (cause) {
            if (cause instanceof Error && /not found/i.test(cause.message)) {
              throw new WorkerError("NOT_FOUND", `${blockCid} is not on the Kubo node at ${where}.`, {
                cause,
              });
            }
            throw unavailable("return a block", cause);
          }
        },
        options,
      );
    },

    async has(cid) {
      const parsed = parseCid(cid);
      try {
        for await (const pin of client.pin.ls({ paths: [parsed.toString()], type: "recursive" })) {
          if (pin.cid.toString() === parsed.toString()) return true;
        }
        return false;
      } catch (cause) {
        // Kubo answers "path '<cid>' is not pinned" with HTTP 500 for content it does not hold.
        if (cause instanceof Error && /is not pinned/.test(cause.message)) return false;
        throw unavailable("list pins", cause);
      }
    },

    async remove(cid) {
      const parsed = parseCid(cid);
      try {
        await client.pin.rm(parsed);
      } catch (cause) {
        if (cause instanceof Error && /not pinned/.test(cause.message)) return;
        throw unavailable("unpin content", cause);
      }
    },

    async close() {
      agent.destroy();
    },
  };
}
