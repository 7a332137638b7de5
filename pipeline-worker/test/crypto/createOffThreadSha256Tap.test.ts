import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createOffThreadSha256Tap } from "../../src/crypto/createOffThreadSha256Tap.ts";
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
});
