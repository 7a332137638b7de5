import { Worker } from "node:worker_threads";
import { WorkerError } from "../internal/WorkerError.ts";
import { digestBeforeTheEnd, type Sha256Tap } from "./createSha256Tap.ts";

/**
 * Bytes of the ring each hashing thread reads from. A power of two, so that positions can be
 * taken from wrapping 32-bit counters; 4 MiB keeps the thread fed through the pauses of the
 * event loop (block writes, GC) without holding much.
 */
const RING_BYTES = 4 * 1024 * 1024;
/** Idle hashing threads kept for the next large upload; more concurrent uploads start more. */
const MAX_IDLE_THREADS = 2;
/** How often a writer waiting for ring space checks that its thread is still alive. */
const LIVENESS_CHECK_MS = 1000;

// Slots of the Int32Array shared with the thread. The counters wrap at 2^32; only their
// differences (never more than RING_BYTES) and their low bits are used.
const WRITTEN = 0; // bytes put in the ring, by this thread
const READ = 1; // bytes hashed, by the hashing thread
const ENDED = 2; // 1 once the stream has ended
const SIGNAL = 3; // bumped on every write and at the end: what the hashing thread sleeps on

/**
 * The hashing thread's whole program. It runs in a worker thread as a script built from this
 * function's source, so it may use nothing from this module (the slots above are spelled as
 * numbers) and takes what it needs from process.getBuiltinModule. For each job it is sent (a
 * ring and its counters), it hashes bytes as they are published until the stream ends, then
 * posts the digest.
 */
function hashingThread(): void {
  const { parentPort } = process.getBuiltinModule("node:worker_threads");
  const { createHash } = process.getBuiltinModule("node:crypto");
  parentPort!.on("message", ({ ring, counters }: { ring: SharedArrayBuffer; counters: SharedArrayBuffer }) => {
    const bytes = new Uint8Array(ring);
    const state = new Int32Array(counters);
    const hash = createHash("sha256");
    let read = 0;
    for (;;) {
      // Read the signal first: anything published after this changes it, so the wait below
      // cannot sleep through a write or the end.
      const signal = Atomics.load(state, 3);
      const available = (Atomics.load(state, 0) - read) | 0;
      if (available === 0) {
        if (Atomics.load(state, 2) === 1) break;
        Atomics.wait(state, 3, signal);
        continue;
      }
      const start = read & (bytes.length - 1);
      const first = Math.min(available, bytes.length - start);
      hash.update(bytes.subarray(start, start + first));
      if (available > first) hash.update(bytes.subarray(0, available - first));
      read = (read + available) | 0;
      Atomics.store(state, 1, read);
      Atomics.notify(state, 1);
    }
    parentPort!.postMessage(hash.digest());
  });
}

type HashingThread = { worker: Worker; ring: SharedArrayBuffer; counters: SharedArrayBuffer };

const idle: HashingThread[] = [];

function startThread(): HashingThread {
  const worker = new Worker(`(${hashingThread.toString()})()`, { eval: true });
  return { worker, ring: new SharedArrayBuffer(RING_BYTES), counters: new SharedArrayBuffer(16) };
}

/**
 * A SHA-256 tap (the same contract as createSha256Tap) that hashes on another thread: each chunk
 * is copied into a ring shared with a hashing thread, which hashes while this thread goes on
 * encrypting and storing. The copy costs the event loop about a quarter of what hashing in place
 * would, so most of a large upload's hashing moves onto a second core. Starting a thread takes
 * about 16 ms here, so threads are kept for reuse, and small payloads are hashed in place
 * (createSha256Tap).
 */
export function createOffThreadSha256Tap(): Sha256Tap {
  let bytes = 0;
  let result: Uint8Array | undefined;
  return {
    async *tap(source) {
      const thread = idle.pop() ?? startThread();
      thread.worker.ref();
      const ring = new Uint8Array(thread.ring);
      const state = new Int32Array(thread.counters);
      state.fill(0);
      let failure: Error | undefined;
      const digest = new Promise<Uint8Array>((resolve, reject) => {
        const fail = (cause: unknown) => {
          failure = new WorkerError("INTERNAL", "The SHA-256 hashing thread failed.", { cause });
          reject(failure);
        };
        thread.worker.once("message", (value: Uint8Array) => {
          thread.worker.off("error", fail).off("exit", fail);
          resolve(new Uint8Array(value));
        });
        thread.worker.once("error", fail).once("exit", fail);
      });
      // A failure is thrown where it is awaited; until then it must not go unhandled.
      digest.catch(() => {});
      thread.worker.postMessage({ ring: thread.ring, counters: thread.counters });
      let written = 0;
      const freeSpace = () => RING_BYTES - ((written - Atomics.load(state, READ)) | 0);
      // Wakes the hashing thread for what was just published: bytes, or the end.
      const signal = () => {
        Atomics.add(state, SIGNAL, 1);
        Atomics.notify(state, SIGNAL);
      };
      const end = () => {
        Atomics.store(state, ENDED, 1);
        signal();
      };
      try {
        for await (const chunk of source) {
          for (let offset = 0; offset < chunk.byteLength;) {
            let free = freeSpace();
            while (free === 0) {
              if (failure) throw failure;
              const wait = Atomics.waitAsync(state, READ, Atomics.load(state, READ), LIVENESS_CHECK_MS);
              if (wait.async) await wait.value;
              free = freeSpace();
            }
            const start = written & (RING_BYTES - 1);
            const count = Math.min(free, chunk.byteLength - offset, RING_BYTES - start);
            ring.set(chunk.subarray(offset, offset + count), start);
            written = (written + count) | 0;
            offset += count;
            Atomics.store(state, WRITTEN, written);
            signal();
          }
          bytes += chunk.byteLength;
          yield chunk;
        }
        end();
        result = await digest;
      } finally {
        if (result === undefined && !failure) {
          // Stopped early (the upload failed or was refused): let the thread finish the job, so
          // that it can take the next one.
          end();
          await digest.catch(() => {});
        }
        if (failure || idle.length >= MAX_IDLE_THREADS) void thread.worker.terminate();
        else {
          // An idle thread must not keep the process alive.
          thread.worker.unref();
          idle.push(thread);
        }
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
