import { describe, expect, it } from "vitest";
import { createTimedMutex } from "../../src/storage/createTimedMutex.ts";
import { WorkerError } from "../../src/internal/WorkerError.ts";

const busy = (waitedMs: number) => new WorkerError("STORAGE_UNAVAILABLE", `Busy for ${waitedMs} ms.`);

describe("createTimedMutex", () => {
  it("runs sections one at a time, in the order they came", async () => {
    const mutex = createTimedMutex({ timeoutMs: 1000, timedOut: busy });
    const log: string[] = [];
    const section = (name: string) => async () => {
      log.push(`${name} in`);
      await new Promise((resolve) => setTimeout(resolve, 10));
      log.push(`${name} out`);
      return name;
    };
    expect(await Promise.all([mutex.run(section("a")), mutex.run(section("b")), mutex.run(section("c"))])).toEqual([
      "a",
      "b",
      "c",
    ]);
    expect(log).toEqual(["a in", "a out", "b in", "b out", "c in", "c out"]);
  });

  it("a holder that never lets go makes others fail with a retryable error after the timeout, not hang", async () => {
    const mutex = createTimedMutex({ timeoutMs: 100, timedOut: busy });
    let letGo!: () => void;
    const holder = mutex.run(() => new Promise<void>((resolve) => (letGo = resolve)));
    let ran = false;
    const started = Date.now();
    const waiter = mutex.run(async () => void (ran = true));
    await expect(waiter).rejects.toMatchObject({ code: "STORAGE_UNAVAILABLE", retryable: true });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(ran).toBe(false);
    expect(mutex.waiting).toBe(0);
    // The one that gave up lost its turn; the mutex still serves the next caller once it is free.
    letGo();
    await holder;
    expect(await mutex.run(async () => "next")).toBe("next");
  });

  it("a section that throws releases the mutex", async () => {
    const mutex = createTimedMutex({ timeoutMs: 100, timedOut: busy });
    await expect(
      mutex.run(async () => {
        throw new Error("disk full");
      }),
    ).rejects.toThrow("disk full");
    expect(await mutex.run(async () => "after")).toBe("after");
  });
});
