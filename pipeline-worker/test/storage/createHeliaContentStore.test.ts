import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CID } from "multiformats/cid";
import { afterEach, describe, expect, it } from "vitest";
import { createHeliaContentStore } from "../../src/storage/createHeliaContentStore.ts";
import type { ContentStore } from "../../src/storage/ContentStore.ts";
import { collect, irregularChunks, randomPlaintext } from "../crypto/streams.ts";

const open: ContentStore[] = [];
afterEach(async () => {
  for (const store of open.splice(0)) await store.close();
});

async function openStore(directory: string, options: { lockTimeoutMs?: number } = {}) {
  const store = await createHeliaContentStore({ directory, ...options });
  open.push(store);
  return store;
}

function freshDir() {
  return mkdtempSync(path.join(tmpdir(), "helia-store-"));
}

describe("createHeliaContentStore", () => {
  it("stores a stream and reads the same bytes back, with its size, checked against an expected SHA-256", async () => {
    const store = await openStore(freshDir());
    const bytes = randomPlaintext(1_000_000);
    const put = await store.put(irregularChunks(bytes));
    expect(put.size).toBe(1_000_000);
    expect(put.cid.version).toBe(1);
    expect((await collect(store.get(put.cid))).equals(bytes)).toBe(true);
    expect(
      (await collect(store.get(put.cid.toString(), { sha256: createHash("sha256").update(bytes).digest() }))).equals(
        bytes,
      ),
    ).toBe(true);
    expect(await store.has(put.cid)).toBe(true);
  });

  it("gives Kubo's CID for the same bytes (CIDv1, raw leaves, 256 KiB chunks)", async () => {
    const store = await openStore(freshDir());
    // `echo -n hello | ipfs add --cid-version=1 -Q` prints this CID.
    expect((await store.put([Buffer.from("hello")])).cid.toString()).toBe(
      "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq",
    );
    const again = await store.put([Buffer.from("hello")]);
    expect(again.cid.toString()).toBe("bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq");
  });

  it("keeps content across a restart", async () => {
    const directory = freshDir();
    const bytes = randomPlaintext(600_000);
    const first = await createHeliaContentStore({ directory });
    const { cid } = await first.put([bytes]);
    await first.close();

    const second = await openStore(directory);
    expect(await second.has(cid)).toBe(true);
    expect((await collect(second.get(cid))).equals(bytes)).toBe(true);
  });

  it("removes content: unpinned and its blocks deleted, while other content stays", async () => {
    const directory = freshDir();
    const store = await openStore(directory);
    const kept = await store.put([randomPlaintext(700_000)]);
    const blocksBefore = countFiles(path.join(directory, "blocks"));
    const removed = await store.put([randomPlaintext(900_000)]);
    expect(countFiles(path.join(directory, "blocks"))).toBeGreaterThan(blocksBefore);
    await store.remove(removed.cid);
    expect(await store.has(removed.cid)).toBe(false);
    expect(countFiles(path.join(directory, "blocks"))).toBe(blocksBefore);
    await expect(collect(store.get(removed.cid))).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(await store.has(kept.cid)).toBe(true);
    await store.remove(removed.cid);
  });

  it("keeps nothing of a put that failed half-way", async () => {
    const directory = freshDir();
    const store = await openStore(directory);
    const blocksBefore = countFiles(path.join(directory, "blocks"));
    async function* breaksOff() {
      yield randomPlaintext(800_000);
      throw new Error("connection reset");
    }
    await expect(store.put(breaksOff())).rejects.toThrow();
    expect(countFiles(path.join(directory, "blocks"))).toBe(blocksBefore);
  });

  it("leaves alone the blocks of a put in flight when another put of the same bytes fails", async () => {
    const store = await openStore(freshDir());
    const leaf = 256 * 1024;
    const bytes = randomPlaintext(13 * leaf);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    // Twelve leaves: the importer writes blocks ten at a time, so ten are on disk, not yet pinned,
    // when each stream stops.
    async function* paused() {
      yield bytes.subarray(0, 12 * leaf);
      await gate;
      yield bytes.subarray(12 * leaf);
    }
    async function* breaksOff() {
      yield bytes.subarray(0, 12 * leaf);
      throw new Error("connection reset");
    }
    const whole = store.put(paused());
    const broken = store.put(breaksOff()).then(
      () => "stored",
      () => "failed",
    );
    // Give the failed put every chance to clean up before the first put goes on: it has finished,
    // or (as it should) it is waiting for the first put to pin its blocks.
    await Promise.race([broken, new Promise((resolve) => setTimeout(resolve, 1000))]);
    release();
    const { cid } = await whole;
    expect(await broken).toBe("failed");
    expect((await collect(store.get(cid))).equals(bytes)).toBe(true);
  });

  it("a stalled upload and a refused upload cannot freeze the store: an honest upload completes while the stalled one is open", async () => {
    const directory = freshDir();
    const blocks = path.join(directory, "blocks");
    const store = await openStore(directory);
    const blocksBefore = countFiles(blocks);
    const leaf = 256 * 1024;
    // A client that sends twelve leaves (ten of them reach the disk) and then nothing, until it hangs up.
    let hangUp!: (cause: Error) => void;
    const hungUp = new Promise<never>((_, reject) => (hangUp = reject));
    async function* stalls() {
      yield randomPlaintext(12 * leaf);
      await hungUp;
    }
    const stalled = store.put(stalls()).then(
      () => "stored",
      () => "failed",
    );
    await until(() => countFiles(blocks) > blocksBefore);

    // A refused upload: stored, then removed, as the worker does when the bytes do not match the signed hash.
    const refused = await within(2000, store.put([randomPlaintext(900_000)]));
    await within(2000, store.remove(refused.cid));
    // An honest upload, while the stalled one is still open.
    const bytes = randomPlaintext(700_000);
    const honest = await within(2000, store.put(irregularChunks(bytes)));

    expect((await collect(store.get(honest.cid))).equals(bytes)).toBe(true);
    expect(await store.has(refused.cid)).toBe(false);
    await expect(collect(store.get(refused.cid))).rejects.toMatchObject({ code: "NOT_FOUND" });
    const whileStalled = countFiles(blocks);
    hangUp(new Error("connection reset"));
    expect(await stalled).toBe("failed");
    // The stalled upload's blocks went when it ended; only the honest upload's remain.
    expect(countFiles(blocks)).toBeLessThan(whileStalled);
    await store.remove(honest.cid);
    expect(countFiles(blocks)).toBe(blocksBefore);
  });

  it("removing content leaves alone the blocks of a put of the same bytes still in flight", async () => {
    const store = await openStore(freshDir());
    const leaf = 256 * 1024;
    const bytes = randomPlaintext(13 * leaf);
    const first = await store.put([bytes]);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    // The same bytes again, paused with ten of their blocks written (the same blocks as the first put's).
    async function* paused() {
      yield bytes.subarray(0, 12 * leaf);
      await gate;
      yield bytes.subarray(12 * leaf);
    }
    const second = store.put(paused());
    await new Promise((resolve) => setTimeout(resolve, 200));
    await within(2000, store.remove(first.cid));
    release();
    const { cid } = await second;
    expect(cid.toString()).toBe(first.cid.toString());
    expect(await store.has(cid)).toBe(true);
    expect((await collect(store.get(cid))).equals(bytes)).toBe(true);
  });

  it("a put kept waiting for the store's bookkeeping past the bound fails retryably, keeps nothing, and goes through when sent again", async () => {
    const directory = freshDir();
    const blocks = path.join(directory, "blocks");
    // A bound far shorter than removing 40 MiB takes (160 blocks unpinned and deleted).
    const store = await openStore(directory, { lockTimeoutMs: 5 });
    const large = await store.put([randomPlaintext(40 * 1024 * 1024)]);
    const removal = store.remove(large.cid);
    const bytes = randomPlaintext(300_000);
    const refused = await store.put([bytes]).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: "STORAGE_UNAVAILABLE", retryable: true });
    expect(String(refused)).toContain("The embedded IPFS store was busy for 5 ms.");
    await removal;
    const again = await store.put([bytes]);
    expect((await collect(store.get(again.cid))).equals(bytes)).toBe(true);
    // Nothing of the refused put is left once the store's next bookkeeping has run.
    await store.remove(again.cid);
    expect(countFiles(blocks)).toBe(0);
  });

  it("says content it does not hold is not found", async () => {
    const store = await openStore(freshDir());
    const absent = CID.parse("bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq");
    expect(await store.has(absent)).toBe(false);
    await expect(collect(store.get(absent))).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(collect(store.get("not-a-cid"))).rejects.toThrow('"not-a-cid" is not a CID.');
  });

  it("refuses a block that was changed on disk", async () => {
    const directory = freshDir();
    const store = await openStore(directory);
    const bytes = randomPlaintext(300_000);
    const { cid } = await store.put([bytes]);
    // Flip one byte in every block file: whichever block the read meets first is corrupt.
    for (const file of listFiles(path.join(directory, "blocks"))) {
      const content = readFileSync(file);
      content[content.length - 1]! ^= 0xff;
      writeFileSync(file, content);
    }
    await expect(collect(store.get(cid))).rejects.toMatchObject({ code: "CONTENT_INTEGRITY_FAILED" });
  });

  it("fails at the end of the stream when the expected SHA-256 differs", async () => {
    const store = await openStore(freshDir());
    const { cid } = await store.put([Buffer.from("some content")]);
    await expect(collect(store.get(cid, { sha256: new Uint8Array(32) }))).rejects.toThrow(
      `The content of ${cid} does not have the expected SHA-256.`,
    );
  });
});

/** `promise`, or a failure if it takes longer than `ms`: what a client would see as a hung request. */
async function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Still waiting after ${ms} ms.`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function until(condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Condition not met within ${ms} ms.`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    return statSync(file).isDirectory() ? listFiles(file) : [file];
  });
}

function countFiles(directory: string): number {
  let count = 0;
  for (const entry of readdirSync(directory, { withFileTypes: true, recursive: true })) if (entry.isFile()) count++;
  return count;
}
