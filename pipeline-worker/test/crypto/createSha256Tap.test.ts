import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createSha256Tap } from "../../src/crypto/createSha256Tap.ts";
import { collect, irregularChunks, randomPlaintext } from "./streams.ts";

describe("createSha256Tap", () => {
  it("passes the stream through unchanged and hashes it on the way", async () => {
    const plaintext = randomPlaintext(100_000);
    const tap = createSha256Tap();
    const passed = await collect(tap.tap(irregularChunks(plaintext)));
    expect(passed.equals(plaintext)).toBe(true);
    expect(Buffer.from(tap.digest()).toString("hex")).toBe(createHash("sha256").update(plaintext).digest("hex"));
    expect(tap.bytes).toBe(100_000);
  });

  it("refuses to give a hash before the stream has ended", async () => {
    const tap = createSha256Tap();
    const stream = tap.tap([Buffer.from("abc"), Buffer.from("def")]);
    await stream.next();
    expect(() => tap.digest()).toThrow("The SHA-256 of a stream was read before the stream ended.");
  });
});
