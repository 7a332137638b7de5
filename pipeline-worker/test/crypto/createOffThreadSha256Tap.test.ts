import { createHash } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { createOffThreadSha256Tap, offThreadSha256Pool } from "../../src/crypto/createOffThreadSha256Tap.ts";
import { createSha256ThreadPool } from "../../src/crypto/createSha256ThreadPool.ts";
import { collect, irregularChunks, randomPlaintext } from "./streams.ts";

const MiB = 1024 * 1024;
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

/** Splits `bytes` at the given cut points, as a socket or a file reader might deliver them. */
function* cutAt(bytes: Uint8Array, cuts: number[]): Generator<Uint8Array> {
  let offset = 0;
  for (const cut of [...new Set(cuts)].sort((a, b) => a - b)) {
    yield bytes.subarray(offset, cut);
    offset = cut;
  }
  yield bytes.subarray(offset);
}

describe("createOffThreadSha256Tap", () => {
  it("passes the stream through unchanged and gives the SHA-256 createHash gives", async () => {
    const plaintext = randomPlaintext(100_000);
    const tap = createOffThreadSha256Tap();
    const passed = await collect(tap.tap(irregularChunks(plaintext)));
    expect(passed.equals(plaintext)).toBe(true);
    expect(hex(tap.digest())).toBe(sha256(plaintext));
    expect(tap.bytes).toBe(100_000);
  });

  it("hashes right however the stream is cut, across the ring's wrap and beyond its size", async () => {
    // 9 MiB through a 4 MiB ring: it wraps twice, and single chunks larger than the ring occur.
    const plaintext = randomPlaintext(9 * MiB + 3);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: plaintext.byteLength }), { maxLength: 40 }), async (cuts) => {
        const tap = createOffThreadSha256Tap();
        for await (const _ of tap.tap(cutAt(plaintext, cuts)));
        expect(hex(tap.digest())).toBe(sha256(plaintext));
      }),
      { numRuns: 25 },
    );
  });

  it("hashes an empty stream", async () => {
    const tap = createOffThreadSha256Tap();
    for await (const _ of tap.tap([]));
    expect(hex(tap.digest())).toBe(sha256(new Uint8Array(0)));
  });

  it("keeps concurrent streams apart", async () => {
    const payloads = [randomPlaintext(5 * MiB), randomPlaintext(3 * MiB + 1), randomPlaintext(7)];
    const taps = payloads.map(() => createOffThreadSha256Tap());
    await Promise.all(taps.map((tap, i) => collect(tap.tap(irregularChunks(payloads[i]!)))));
    expect(taps.map((tap) => hex(tap.digest()))).toEqual(payloads.map(sha256));
  });

  it("after a stream that stopped half-way (a broken upload), the next one hashes right", async () => {
    const plaintext = randomPlaintext(6 * MiB);
    async function* breaksOff() {
      yield plaintext.subarray(0, 5 * MiB);
      throw new Error("connection reset");
    }
    const broken = createOffThreadSha256Tap();
    await expect(collect(broken.tap(breaksOff()))).rejects.toThrow("connection reset");
    expect(() => broken.digest()).toThrow("before the stream ended");
    // Stopped by its reader rather than its source.
    const abandoned = createOffThreadSha256Tap();
    for await (const _ of abandoned.tap(irregularChunks(plaintext))) break;

    for (let i = 0; i < 4; i++) {
      const tap = createOffThreadSha256Tap();
      await collect(tap.tap(irregularChunks(plaintext, i)));
      expect(hex(tap.digest())).toBe(sha256(plaintext));
    }
  });

  it("60 uploads that send one byte or none cannot start a thread each: threads stay within the pool, digests stay right", async () => {
    const poolSize = offThreadSha256Pool.size;
    const threadsBefore = osThreads();
    // Sixty streams whose reader is waiting (as the ingest path waits on a socket) before any byte comes.
    const feeds = Array.from({ length: 60 }, () => createFeed());
    const taps = feeds.map(() => createOffThreadSha256Tap());
    const drained = taps.map((tap, i) => collect(tap.tap(feeds[i]!.stream)));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(osThreads() - threadsBefore).toBe(0);
    // Two in three send one byte; the rest send none. While all of them are still open:
    const sent = feeds.map((feed, i) => {
      const bytes = i % 3 === 2 ? new Uint8Array(0) : Uint8Array.of(i);
      if (bytes.byteLength > 0) feed.push(bytes);
      return bytes;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(osThreads() - threadsBefore).toBeLessThanOrEqual(poolSize);
    expect(offThreadSha256Pool.threads).toBeLessThanOrEqual(poolSize);
    for (const feed of feeds) feed.end();
    await Promise.all(drained);
    expect(taps.map((tap) => hex(tap.digest()))).toEqual(sent.map(sha256));
    expect(osThreads() - threadsBefore).toBeLessThanOrEqual(poolSize);
  });

  it("uploads held open take at most the pool's threads; the others hash in place, and threads are reused", async () => {
    const pool = createSha256ThreadPool({ size: 3 });
    try {
      const payloads = Array.from({ length: 10 }, (_, i) => randomPlaintext(1 + i * 300_000));
      for (let round = 0; round < 2; round++) {
        const feeds = payloads.map(() => createFeed());
        const taps = payloads.map(() => createOffThreadSha256Tap({ pool }));
        const drained = taps.map((tap, i) => collect(tap.tap(feeds[i]!.stream)));
        for (const [i, feed] of feeds.entries()) feed.push(payloads[i]!.subarray(0, 1));
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(pool.busy).toBe(3);
        expect(pool.threads).toBe(3);
        for (const [i, feed] of feeds.entries()) {
          feed.push(payloads[i]!.subarray(1));
          feed.end();
        }
        await Promise.all(drained);
        expect(taps.map((tap) => hex(tap.digest()))).toEqual(payloads.map(sha256));
        expect(pool.busy).toBe(0);
        expect(pool.threads).toBe(3);
      }
    } finally {
      await pool.close();
    }
    expect(pool.threads).toBe(0);
  });

  it("close ends idle threads at once and a busy one when its stream ends; the pool starts afresh after", async () => {
    const pool = createSha256ThreadPool({ size: 2 });
    const bytes = randomPlaintext(2 * MiB);
    const feed = createFeed();
    const busyTap = createOffThreadSha256Tap({ pool });
    const drained = collect(busyTap.tap(feed.stream));
    feed.push(bytes.subarray(0, MiB));
    await new Promise((resolve) => setTimeout(resolve, 50));
    // A second stream, on the second thread, which it leaves idle.
    await collect(createOffThreadSha256Tap({ pool }).tap([bytes]));
    expect([pool.threads, pool.busy]).toEqual([2, 1]);
    await pool.close();
    expect([pool.threads, pool.busy]).toEqual([1, 1]);
    feed.push(bytes.subarray(MiB));
    feed.end();
    await drained;
    expect(hex(busyTap.digest())).toBe(sha256(bytes));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(pool.threads).toBe(0);
    const after = createOffThreadSha256Tap({ pool });
    await collect(after.tap([bytes]));
    expect(hex(after.digest())).toBe(sha256(bytes));
    await pool.close();
  });

  it("the pool's threads do not keep the process from exiting", async () => {
    const module = new URL("../../src/crypto/createOffThreadSha256Tap.ts", import.meta.url).href;
    const script = `
      import { createOffThreadSha256Tap } from ${JSON.stringify(module)};
      const tap = createOffThreadSha256Tap();
      for await (const _ of tap.tap([new Uint8Array(5 * 1024 * 1024)]));
      console.log(Buffer.from(tap.digest()).toString("hex"));`;
    const started = Date.now();
    const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], {
      timeout: 20_000,
    });
    expect(stdout.trim()).toBe(sha256(new Uint8Array(5 * MiB)));
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});

/** Threads of this process, as the kernel counts them (the figure the outside review measured). */
function osThreads(): number {
  return existsSync("/proc/self/task") ? readdirSync("/proc/self/task").length : 0;
}

/** A stream fed by hand, as bytes arrive from a client. */
function createFeed() {
  const queued: (Uint8Array | undefined)[] = [];
  let wake: (() => void) | undefined;
  const put = (item: Uint8Array | undefined) => {
    queued.push(item);
    wake?.();
  };
  return {
    push: (bytes: Uint8Array) => put(bytes),
    end: () => put(undefined),
    stream: (async function* () {
      for (;;) {
        while (queued.length === 0) await new Promise<void>((resolve) => (wake = resolve));
        const item = queued.shift();
        if (item === undefined) return;
        yield item;
      }
    })(),
  };
}
