import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createPollScheduler } from "../../src/policy/createPollScheduler.ts";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** A poll the test finishes by hand, recording when each one started. */
function controlledPolls() {
  const started: number[] = [];
  const pending: { resolve: (n: number) => void; reject: (error: Error) => void }[] = [];
  const run = () =>
    new Promise<number>((resolve, reject) => {
      started.push(Date.now());
      pending.push({ resolve, reject });
    });
  return { run, started, pending };
}

describe("createPollScheduler", () => {
  it("polls at once when started, then an interval after each poll ends", async () => {
    const polls = controlledPolls();
    const scheduler = createPollScheduler({ run: polls.run, intervalMs: 1_000 });
    const t0 = Date.now();
    scheduler.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(polls.started).toEqual([t0]);

    // A slow poll: the next waits for its end, then the interval.
    await vi.advanceTimersByTimeAsync(3_000);
    expect(polls.started).toHaveLength(1);
    polls.pending[0]!.resolve(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(polls.started).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(polls.started).toEqual([t0, t0 + 4_000]);
    polls.pending[1]!.resolve(2);
    await scheduler.stop();
  });

  it("retries a failed poll at the same interval", async () => {
    const polls = controlledPolls();
    const scheduler = createPollScheduler({ run: polls.run, intervalMs: 500 });
    scheduler.start();
    await vi.advanceTimersByTimeAsync(0);
    polls.pending[0]!.reject(new Error("node down"));
    await vi.advanceTimersByTimeAsync(500);
    expect(polls.started).toHaveLength(2);
    polls.pending[1]!.resolve(2);
    await scheduler.stop();
  });

  it("joins a poll asked for while one runs, so two never overlap", async () => {
    const polls = controlledPolls();
    const scheduler = createPollScheduler({ run: polls.run, intervalMs: 1_000 });
    const first = scheduler.poll();
    const second = scheduler.poll();
    expect(second).toBe(first);
    polls.pending[0]!.resolve(7);
    expect(await second).toBe(7);
    // Once it ended, a poll starts a new one.
    const third = scheduler.poll();
    expect(polls.started).toHaveLength(2);
    polls.pending[1]!.reject(new Error("node down"));
    await expect(third).rejects.toThrow("node down");
  });

  it("stops scheduling when stopped, after waiting for the poll in progress", async () => {
    const polls = controlledPolls();
    const scheduler = createPollScheduler({ run: polls.run, intervalMs: 1_000 });
    scheduler.start();
    scheduler.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(polls.started).toHaveLength(1);
    let stopped = false;
    const stopping = scheduler.stop().then(() => (stopped = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(false);
    polls.pending[0]!.reject(new Error("node down"));
    await stopping;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(polls.started).toHaveLength(1);
  });
});
