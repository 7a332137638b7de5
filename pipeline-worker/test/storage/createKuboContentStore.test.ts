// These tests run the Kubo adapter against a FAKE Kubo (./fakeKuboServer.ts): a small in-process
// HTTP server that speaks the subset of Kubo's RPC API the adapter uses, backed by Helia. No real
// Kubo daemon can run here. They show what the adapter sends and that it verifies what comes
// back; they cannot prove that a real Kubo answers exactly as the fake does.
import { createHash } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createHeliaContentStore } from "../../src/storage/createHeliaContentStore.ts";
import { createKuboContentStore } from "../../src/storage/createKuboContentStore.ts";
import { collect, irregularChunks, randomPlaintext } from "../crypto/streams.ts";
import { startFakeKubo, type FakeKuboOptions } from "./fakeKuboServer.ts";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(options: FakeKuboOptions = {}) {
  const kubo = await startFakeKubo(options);
  const store = createKuboContentStore({ url: kubo.url, timeoutMs: 5_000 });
  cleanups.push(kubo.close, store.close);
  return { kubo, store };
}

async function failure(promise: Promise<unknown>) {
  return promise.then(
    () => {
      throw new Error("expected a failure");
    },
    (error: unknown) => error as { code: string; shortMessage: string; retryable: boolean },
  );
}

describe("createKuboContentStore (against a fake Kubo RPC server, not a real Kubo)", () => {
  it("stores a stream through /api/v0/add and reads it back through verified blocks", async () => {
    const { kubo, store } = await setup();
    const bytes = randomPlaintext(1_500_000);
    const put = await store.put(irregularChunks(bytes));
    expect(put.size).toBe(bytes.byteLength);
    const add = kubo.queries[kubo.calls.indexOf("/api/v0/add")]!;
    expect(Object.fromEntries(["cid-version", "raw-leaves", "chunker", "pin"].map((k) => [k, add.get(k)]))).toEqual({
      "cid-version": "1",
      "raw-leaves": "true",
      chunker: "size-262144",
      pin: "true",
    });

    expect(
      (await collect(store.get(put.cid, { sha256: createHash("sha256").update(bytes).digest() }))).equals(bytes),
    ).toBe(true);
    expect(kubo.calls).toContain("/api/v0/block/get");
    expect(kubo.calls).not.toContain("/api/v0/cat");
    expect(await store.has(put.cid)).toBe(true);
  });

  it("unpins removed content through /api/v0/pin/rm", async () => {
    const { kubo, store } = await setup();
    const put = await store.put([randomPlaintext(300_000)]);
    await store.remove(put.cid);
    expect(kubo.calls).toContain("/api/v0/pin/rm");
    expect(await store.has(put.cid)).toBe(false);
    await store.remove(put.cid);
  });

  it("gives the same CID as the embedded Helia store for the same bytes", async () => {
    const { store } = await setup();
    const helia = await createHeliaContentStore({ directory: mkdtempSync(path.join(tmpdir(), "helia-cmp-")) });
    cleanups.push(helia.close);
    for (const size of [0, 5, 262_144, 262_145, 3_000_000]) {
      const bytes = randomPlaintext(size);
      expect((await store.put([bytes])).cid.toString(), `${size} bytes`).toBe(
        (await helia.put([bytes])).cid.toString(),
      );
    }
  });

  it("refuses blocks that do not match their CID", async () => {
    const { store: honest } = await setup();
    const bytes = randomPlaintext(700_000);
    const { cid } = await honest.put([bytes]);
    const lying = await setup({ tamperBlocks: true });
    // The lying node holds the same content, and serves it changed.
    await lying.store.put([bytes]);
    const error = await failure(collect(lying.store.get(cid)));
    expect(error).toMatchObject({ code: "CONTENT_INTEGRITY_FAILED", retryable: false });
    expect(error.shortMessage).toMatch(/^The store returned a block that does not match /);
  });

  it("refuses a node that answers an add with the wrong CID", async () => {
    const { store } = await setup({ lieAboutCid: true });
    const error = await failure(store.put([Buffer.from("payload")]));
    expect(error.code).toBe("CONTENT_INTEGRITY_FAILED");
    expect(error.shortMessage).toMatch(/^The Kubo node stored the content as \S+ but it is bafkrei/);
  });

  it("refuses a node whose import settings would give another CID", async () => {
    const { store } = await setup({ ignoreChunker: true });
    const error = await failure(store.put([randomPlaintext(600_000)]));
    expect(error.code).toBe("CONTENT_INTEGRITY_FAILED");
  });

  it("says content the node lacks is not found, and is not pinned", async () => {
    const { store } = await setup();
    const absent = "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq";
    expect(await store.has(absent)).toBe(false);
    expect((await failure(collect(store.get(absent)))).code).toBe("NOT_FOUND");
  });

  it("reports a node that is down as retryable STORAGE_UNAVAILABLE", async () => {
    const { kubo } = await setup();
    await kubo.close();
    const store = createKuboContentStore({ url: kubo.url, timeoutMs: 2_000 });
    cleanups.push(store.close);
    for (const error of [
      await failure(store.put([Buffer.from("x")])),
      await failure(store.has("bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq")),
    ]) {
      expect(error).toMatchObject({ code: "STORAGE_UNAVAILABLE", retryable: true });
      expect(error.shortMessage).toContain(`The Kubo node at ${kubo.url} failed to`);
    }
  });
});
