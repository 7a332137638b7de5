import { Worker } from "node:worker_threads";
import { WorkerError } from "../internal/WorkerError.ts";

/**
 * Bytes of the ring each hashing thread reads from. A power of two, so that positions can be
 * taken from wrapping 32-bit counters; 4 MiB keeps the thread fed through the pauses of the
 * event loop (block writes, GC) without holding much.
 */
const RING_BYTES = 4 * 1024 * 1024;
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

/** One stream's SHA-256, computed on a pool thread. */
export type Sha256Job = {
  /** Copies `chunk` into the thread's ring (waiting for space if the thread is behind); the caller may then reuse it. */
  update(chunk: Uint8Array): Promise<void>;
  /** Ends the stream and gives its digest; the thread goes back to the pool. */
  digest(): Promise<Uint8Array>;
  /** Gives up the stream (it stopped early) and gives the thread back. Safe after `digest`, and twice. */
  abandon(): Promise<void>;
};

export type CreateSha256ThreadPoolParameters = {
  /** The most threads the pool ever runs at once. */
  size: number;
};

export type Sha256ThreadPool = {
  readonly size: number;
  /** Threads started and not yet ended, busy or idle. */
  readonly threads: number;
  /** Threads hashing a stream now. */
  readonly busy: number;
  /**
   * A job on an idle thread, or on a new one while fewer than `size` run; `undefined` when all
   * `size` are busy, for the caller to hash some other way (it never waits for a thread).
   */
  tryStart(): Sha256Job | undefined;
  /**
   * Ends the idle threads now, and each busy one as soon as its stream ends (ending them at once
   * would fail uploads that shutdown is letting finish). The pool may be used again afterwards:
   * it starts threads afresh, as at first.
   */
  close(): Promise<void>;
};

type HashingThread = {
  worker: Worker;
  ring: SharedArrayBuffer;
  counters: SharedArrayBuffer;
  /** Set by `close` while the thread was busy: it ends when its stream does. */
  retiring: boolean;
};

/**
 * A fixed set of SHA-256 threads, started lazily (the first `size` jobs start them, one each) and
 * reused. A thread stays with one stream until that stream ends, which a client paces; so that
 * clients who hold their uploads open cannot make the worker start a thread each (the outside
 * review saw 60 one-byte uploads add 57 threads and 464 MiB), nor make other uploads queue for
 * one, the pool never grows past `size` and never makes a caller wait: when all threads are
 * busy, `tryStart` says so and the caller hashes in place. Threads never keep the process alive.
 */
export function createSha256ThreadPool(parameters: CreateSha256ThreadPoolParameters): Sha256ThreadPool {
  const size = Math.max(1, Math.floor(parameters.size));
  const idle: HashingThread[] = [];
  const busy = new Set<HashingThread>();
  // Threads told to end and not yet gone: counted against `size` until their exit.
  const ending = new Set<HashingThread>();

  function startThread(): HashingThread {
    const worker = new Worker(`(${hashingThread.toString()})()`, { eval: true });
    worker.unref();
    const thread: HashingThread = {
      worker,
      ring: new SharedArrayBuffer(RING_BYTES),
      counters: new SharedArrayBuffer(16),
      retiring: false,
    };
    // A thread that dies, busy or idle, leaves the pool (its job, if any, fails on its own
    // listeners); an 'error' without a listener would crash the process.
    worker.on("error", () => {});
    worker.once("exit", () => {
      busy.delete(thread);
      ending.delete(thread);
      const position = idle.indexOf(thread);
      if (position >= 0) idle.splice(position, 1);
    });
    return thread;
  }

  function retire(thread: HashingThread): void {
    ending.add(thread);
    void thread.worker.terminate();
  }

  function runJob(thread: HashingThread): Sha256Job {
    busy.add(thread);
    const ring = new Uint8Array(thread.ring);
    const state = new Int32Array(thread.counters);
    state.fill(0);
    let failure: Error | undefined;
    const { worker } = thread;
    const fail = (cause: unknown) => {
      failure = new WorkerError("INTERNAL", "The SHA-256 hashing thread failed.", { cause });
      rejectDigest(failure);
    };
    let rejectDigest!: (cause: Error) => void;
    const result = new Promise<Uint8Array>((resolve, reject) => {
      rejectDigest = reject;
      worker.once("message", (value: Uint8Array) => {
        worker.off("error", fail).off("exit", fail);
        resolve(new Uint8Array(value));
      });
      worker.once("error", fail).once("exit", fail);
    });
    // A failure is thrown where it is awaited; until then it must not go unhandled.
    result.catch(() => {});
    worker.postMessage({ ring: thread.ring, counters: thread.counters });

    let written = 0;
    let ended = false;
    let returned = false;
    const freeSpace = () => RING_BYTES - ((written - Atomics.load(state, READ)) | 0);
    // Wakes the hashing thread for what was just published: bytes, or the end.
    const signal = () => {
      Atomics.add(state, SIGNAL, 1);
      Atomics.notify(state, SIGNAL);
    };
    const end = () => {
      if (ended) return;
      ended = true;
      Atomics.store(state, ENDED, 1);
      signal();
    };
    /** Once the thread has posted this job's digest (or died): back to the pool, or ended. */
    const giveBack = () => {
      if (returned) return;
      returned = true;
      busy.delete(thread);
      if (failure || thread.retiring) retire(thread);
      else idle.push(thread);
    };

    return {
      async update(chunk) {
        if (ended) throw new WorkerError("INTERNAL", "A SHA-256 job was fed after its stream ended.");
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
      },
      async digest() {
        end();
        try {
          return await result;
        } finally {
          giveBack();
        }
      },
      async abandon() {
        // The thread finishes hashing what it has (at most a ring), so that it can take the next job.
        end();
        await result.catch(() => {});
        giveBack();
      },
    };
  }

  return {
    size,
    get threads() {
      return idle.length + busy.size + ending.size;
    },
    get busy() {
      return busy.size;
    },
    tryStart() {
      const thread = idle.pop() ?? (busy.size + ending.size < size ? startThread() : undefined);
      return thread && runJob(thread);
    },
    async close() {
      for (const thread of busy) thread.retiring = true;
      const stopping = idle.splice(0);
      for (const thread of stopping) retire(thread);
      await Promise.all(stopping.map((thread) => thread.worker.terminate()));
    },
  };
}
