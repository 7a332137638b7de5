export type CreateTimedMutexParameters = {
  /** How long a caller may wait for the mutex before it gives up. */
  timeoutMs: number;
  /** The error a caller that waited `timeoutMs` in vain is given. */
  timedOut: (waitedMs: number) => Error;
};

export type TimedMutex = {
  /** Runs `section` alone, after those queued before it; throws `timedOut` if its turn is too long coming. */
  run<T>(section: () => Promise<T>): Promise<T>;
  /** Callers waiting now, the holder not counted. */
  readonly waiting: number;
};

/**
 * A first-come, first-served mutex whose waits are bounded: a caller that cannot get it within
 * the timeout gets an error it can report and retry, rather than hanging behind a holder that
 * never lets go. It is meant for short sections of local work; a section that waits on a client
 * would make every other caller time out.
 */
export function createTimedMutex(parameters: CreateTimedMutexParameters): TimedMutex {
  let held = false;
  // Invariant: `queue` is empty unless `held`; releasing hands the mutex straight to the first in
  // it, so that a caller arriving in between cannot jump the queue.
  const queue: (() => void)[] = [];

  function release(): void {
    const next = queue.shift();
    if (next) next();
    else held = false;
  }

  async function acquire(): Promise<void> {
    if (!held) {
      held = true;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const grant = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        const position = queue.indexOf(grant);
        if (position >= 0) queue.splice(position, 1);
        reject(parameters.timedOut(parameters.timeoutMs));
      }, parameters.timeoutMs);
      // A wait must not keep the process alive: whoever waits is kept alive by its own work.
      timer.unref();
      queue.push(grant);
    });
  }

  return {
    async run(section) {
      await acquire();
      try {
        return await section();
      } finally {
        release();
      }
    },
    get waiting() {
      return queue.length;
    },
  };
}
