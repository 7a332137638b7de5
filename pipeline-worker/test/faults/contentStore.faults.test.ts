import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createHeliaContentStore } from "../../src/storage/createHeliaContentStore.ts";
import { createFaultyContentStore, type ContentStoreFault } from "../helpers/createFaultyContentStore.ts";
import { trainingData } from "../helpers/submissions.ts";
import { createFaultsSystem, type FaultsSystem } from "./createFaultsSystem.ts";

// IPFS failing or slow under the worker: an upload it cannot store is refused with
// STORAGE_UNAVAILABLE, leaves nothing kept and nothing recorded on chain, and can be sent again
// once the store heals; queries do not wait for a slow store.

const ROUNDS = process.env.SOAK ? 5 : 1;

let f: FaultsSystem;
const summary = { uploads: 0, refused: 0, retriedAndRecorded: 0, slowUploads: 0, queriesDuringSlowUpload: 0 };
const injected = { put: 0, get: 0, slowed: 0 };

beforeAll(async () => {
  f = await createFaultsSystem();
}, 120_000);
afterEach(async () => {
  await f.reset();
});
afterAll(async () => {
  console.info(
    `faults: ipfs: ${injected.put} failed writes, ${injected.get} failed reads, ${injected.slowed} slowed chunks injected; ` +
      `${summary.refused}/${summary.uploads} uploads refused with STORAGE_UNAVAILABLE and nothing kept or recorded, ` +
      `${summary.retriedAndRecorded} retried after healing and recorded once; ${summary.queriesDuringSlowUpload} queries answered during slow uploads`,
  );
  await f?.closeAll();
});

async function startWorker() {
  const dataDir = path.join(f.root, `store-${Math.random().toString(36).slice(2)}`);
  const faulty = createFaultyContentStore(await createHeliaContentStore({ directory: path.join(dataDir, "ipfs") }));
  const w = await f.startWorker({ dataDir, store: faulty.store });
  return {
    ...w,
    faulty,
    async close() {
      for (const key of Object.keys(injected) as (keyof typeof injected)[]) injected[key] += faulty.injected[key];
      await w.close();
    },
  };
}

const status = async (url: string, id: string) =>
  (await (await fetch(`${url}/v1/submissions/${id}`)).json()) as Record<string, string>;

describe("an upload while the content store fails", () => {
  const faults: [string, ContentStoreFault][] = [
    ["fails at once", { fail: "put" }],
    ["fails mid-upload", { fail: "put", afterChunks: 2 }],
    ["stores the ciphertext and fails on the manifest", { fail: "put", onlyPut: 2 }],
  ];
  it.each(faults)(
    "%s: refused with STORAGE_UNAVAILABLE, nothing kept or recorded; accepted once it heals",
    async (_name, fault) => {
      const w = await startWorker();
      for (let round = 0; round < ROUNDS; round++) {
        const { data, envelope } = await w.submitter.prepare({ data: trainingData(300 * 1024) });
        const id = (await w.submitter.post(envelope)).json.id as string;
        w.faulty.set(fault);
        const refused = await w.submitter.put(id, data);
        summary.uploads++;
        expect(refused.status).toBe(503);
        expect(refused.json).toMatchObject({ code: "STORAGE_UNAVAILABLE", retryable: true });
        expect(String(refused.json.detail)).toMatch(/store/i);
        summary.refused++;
        // Nothing of it is kept, nothing is recorded, and the submission still waits for its data.
        expect(w.faulty.kept()).toEqual([]);
        expect(await w.worker.flush()).toBe(0);
        expect(await f.timesRecorded(envelope.dataHash)).toBe(0);
        expect((await status(w.url, id)).state).toBe("awaiting_data");

        w.faulty.set({});
        expect((await w.submitter.put(id, data)).json.state).toBe("stored");
        expect(w.faulty.kept()).toHaveLength(2);
        expect(await w.worker.flush()).toBe(1);
        expect(await f.timesRecorded(envelope.dataHash)).toBe(1);
        expect((await status(w.url, id)).state).toBe("recorded");
        summary.retriedAndRecorded++;
        for (const cid of w.faulty.kept()) await w.faulty.store.remove(cid);
      }
      await w.close();
    },
  );
});

describe("a slow content store", () => {
  it("stores a slow upload, and answers queries while it goes on", async () => {
    const w = await startWorker();
    const { data, envelope } = await w.submitter.prepare({ data: trainingData(1024 * 1024) });
    const id = (await w.submitter.post(envelope)).json.id as string;
    // The store takes a MiB a second, so the upload lasts about a second.
    w.faulty.set({ msPerMiB: 1000 });
    let done = false;
    const upload = w.submitter.put(id, data).finally(() => {
      done = true;
    });
    summary.slowUploads++;
    let answered = 0;
    while (!done) {
      const response = await f.query(w.url, await f.signQuery());
      expect(response.status).toBe(200);
      answered++;
    }
    expect((await upload).json.state).toBe("stored");
    expect(answered).toBeGreaterThan(0);
    summary.queriesDuringSlowUpload += answered;
    expect(await w.worker.flush()).toBe(1);
    expect(await f.timesRecorded(envelope.dataHash)).toBe(1);
    await w.close();
  });
});
