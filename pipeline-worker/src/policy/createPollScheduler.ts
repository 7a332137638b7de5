export type CreatePollSchedulerParameters<T> = {
  /** One poll; its failure is the caller's to record (the scheduler only swallows it between polls). */
  run: () => Promise<T>;
  /** Time from the end of one scheduled poll to the start of the next, whether it failed or not. */
  intervalMs: number;
};

export type PollScheduler<T> = {
  /** Polls now, then `intervalMs` after each poll ends, until `stop`. */
  start(): void;
  /** Stops polling and waits for a poll in progress. */
  stop(): Promise<void>;
  /** One poll now, joining the one in progress if any: two polls never run at once. */
  poll(): Promise<T>;
};

/**
 * When to poll. Polls never overlap, and the next is timed from the end of the last rather than
 * on a fixed beat, so a slow node is never sent a second poll while it still answers the first.
 * A failed poll is retried at the same interval: the staleness window the worker enforces is many
 * intervals long, and backing off would only lengthen the time it refuses requests after the node
 * recovers.
 */
export function createPollScheduler<T>({ run, intervalMs }: CreatePollSchedulerParameters<T>): PollScheduler<T> {
  let inFlight: Promise<T> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running = false;

  function poll(): Promise<T> {
    inFlight ??= run().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  }

  function schedule(delay: number) {
    timer = setTimeout(() => {
      poll()
        .catch(() => {
          // The caller has recorded the failure; the next poll tries again.
        })
        .finally(() => {
          if (running) schedule(intervalMs);
        });
    }, delay);
    // A scheduled poll alone does not keep the process alive.
    timer.unref?.();
  }

  return {
    start() {
      if (running) return;
      running = true;
      schedule(0);
    },
    async stop() {
      running = false;
      if (timer !== undefined) clearTimeout(timer);
      await inFlight?.catch(() => undefined);
    },
    poll,
  };
}
