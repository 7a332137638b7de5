import { createHash, type Hash } from "node:crypto";
import { availableParallelism } from "node:os";
import { createSha256ThreadPool, type Sha256Job, type Sha256ThreadPool } from "./createSha256ThreadPool.ts";
import { digestBeforeTheEnd, type Sha256Tap } from "./createSha256Tap.ts";

/**
 * The process's hashing threads, shared by every off-thread tap. One core runs the event loop
 * (encryption, block hashing, HTTP), so the others may hash; more than four would hold memory (a
 * 4 MiB ring and a V8 isolate each) for uploads that, so many at once, are bound by the event loop
 * anyway. On a two-core machine this is one thread.
 */
export const offThreadSha256Pool: Sha256ThreadPool = createSha256ThreadPool({
  size: Math.min(4, Math.max(1, availableParallelism() - 1)),
});

export type CreateOffThreadSha256TapParameters = {
  /** Where to hash; the process's shared pool unless given. */
  pool?: Sha256ThreadPool | undefined;
};

/**
 * A SHA-256 tap (the same contract as createSha256Tap) that hashes on a pool thread: each chunk
 * is copied into a ring shared with a hashing thread, which hashes while this thread goes on
 * encrypting and storing. The copy costs the event loop about a quarter of what hashing in place
 * would, so most of a large upload's hashing moves onto a second core.
 *
 * A thread is taken only when the first byte arrives, and kept until the stream ends. When every
 * thread of the pool is busy, the stream is hashed in place instead, as small payloads are: a
 * client that holds its upload open can then slow the worker's other uploads a little, never
 * stop them (as waiting for a thread would) nor make it start more threads.
 */
export function createOffThreadSha256Tap(parameters: CreateOffThreadSha256TapParameters = {}): Sha256Tap {
  const pool = parameters.pool ?? offThreadSha256Pool;
  let bytes = 0;
  let result: Uint8Array | undefined;
  return {
    async *tap(source) {
      // Exactly one of the two, once the first byte has come.
      let job: Sha256Job | undefined;
      let inPlace: Hash | undefined;
      try {
        for await (const chunk of source) {
          if (chunk.byteLength > 0) {
            if (job === undefined && inPlace === undefined) {
              job = pool.tryStart();
              if (job === undefined) inPlace = createHash("sha256");
            }
            if (job) await job.update(chunk);
            else inPlace!.update(chunk);
          }
          bytes += chunk.byteLength;
          yield chunk;
        }
        result = job ? await job.digest() : new Uint8Array((inPlace ?? createHash("sha256")).digest());
      } finally {
        // Stopped early (the upload failed or was refused): the thread goes back to the pool.
        if (result === undefined) await job?.abandon();
      }
    },
    digest() {
      if (result === undefined) throw digestBeforeTheEnd();
      return result;
    },
    get bytes() {
      return bytes;
    },
  };
}
