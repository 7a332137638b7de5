import { randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { offThreadSha256Pool } from "../../src/crypto/createOffThreadSha256Tap.ts";
import { createHeliaContentStore } from "../../src/storage/createHeliaContentStore.ts";
import { createWorkerSystem, type WorkerSystem } from "../helpers/createWorkerSystem.ts";
import { collect, createSubmitter, trainingData, type Submitter } from "../helpers/submissions.ts";
import { HOSTILE_TEST_TIMEOUT_MS } from "./expectRefusal.ts";

// Uploads that a client holds open, against the worker over HTTP. One held upload plus one the
// worker refuses once froze all ingest (the store's upload lock was held for the whole client-paced
// stream and the refusal's cleanup waited for it, with every new upload queued behind); and every
// upload of 4 MiB or more started a hashing thread of its own before any of its body came. Here
// the idle timeout is the default 30 s, far longer than these tests, so that the held uploads are
// still open while the others are checked.

const MiB = 1024 * 1024;
/** How long an honest upload may take here before it counts as frozen; it takes well under a second. */
const PROMPTLY_MS = 5_000;

let s: WorkerSystem;
let submitter: Submitter;
vi.setConfig({ testTimeout: HOSTILE_TEST_TIMEOUT_MS });

beforeAll(async () => {
  s = await createWorkerSystem();
  submitter = createSubmitter(s);
});
afterAll(async () => {
  await s?.close();
});

const submissionState = async (id: string) =>
  (await (await fetch(`${s.url}/v1/submissions/${id}`)).json()) as { state: string; manifestCid: string | null };

describe("uploads held open", () => {
  it("a stalled upload and a refused upload cannot freeze ingest: an honest upload is stored promptly meanwhile, and nothing is lost", async () => {
    const stalled = await submitter.begin(trainingData(8 * MiB));
    const refused = await submitter.begin(trainingData(MiB));
    const honest = await submitter.begin(trainingData(MiB));
    const blocksBefore = s.storedBlocks();

    // Six MiB of the stalled upload, enough for the store to write blocks, and then nothing.
    const held = submitter.openUpload(stalled.id, stalled.data.byteLength, stalled.data.subarray(0, 6 * MiB));
    // The store writes the held bytes' blocks as they arrive: count them once it has written all
    // it can (no new block for 300 ms), since a count taken while they still land is not a baseline.
    await until(async () => s.storedBlocks() > blocksBefore);
    const blocksWhileHeld = await settledBlocks();

    // Bytes that do not match the signed hash: refused, and their ciphertext removed at once.
    const wrong = await within(PROMPTLY_MS, submitter.put(refused.id, randomBytes(MiB)));
    expect(wrong.status).toBe(400);
    expect(wrong.json.code).toBe("VALIDATION_FAILED");
    expect(s.storedBlocks()).toBe(blocksWhileHeld);

    const stored = await within(PROMPTLY_MS, submitter.put(honest.id, honest.data));
    expect(stored.status).toBe(202);
    const { state, manifestCid } = await submissionState(honest.id);
    expect(state).toBe("stored");
    const honestBlocks = s.storedBlocks() - blocksWhileHeld;
    expect(honestBlocks).toBeGreaterThan(0);

    // The stalled client hangs up: its upload fails and its blocks go; the submission still
    // awaits its data, and takes it whole.
    held.close();
    await held.answer;
    await until(async () => s.storedBlocks() === blocksBefore + honestBlocks);
    expect((await submissionState(stalled.id)).state).toBe("awaiting_data");
    expect((await within(PROMPTLY_MS, submitter.put(stalled.id, stalled.data))).status).toBe(202);

    // The honest upload's manifest and ciphertext read back whole from the worker's repository.
    await s.stop();
    const store = await createHeliaContentStore({ directory: path.join(s.dataDir, "ipfs") });
    try {
      const manifest = JSON.parse(Buffer.from(await collect(store.get(manifestCid!))).toString("utf8")) as {
        ciphertext: string;
        size: string;
      };
      expect(manifest.size).toBe(String(MiB));
      expect((await collect(store.get(manifest.ciphertext))).byteLength).toBeGreaterThan(MiB);
    } finally {
      await store.close();
      await s.start();
    }
  });

  it("thirty uploads that send one byte and hold cannot make the worker start a thread each; an honest upload is stored meanwhile", async () => {
    const waiting = await Promise.all(Array.from({ length: 30 }, () => submitter.begin(trainingData(4 * MiB))));
    const honest = await submitter.begin(trainingData(4 * MiB));
    const threadsBefore = osThreads();
    const held = waiting.map(({ id, data }) => submitter.openUpload(id, data.byteLength, data.subarray(0, 1)));
    try {
      await until(async () => offThreadSha256Pool.busy === offThreadSha256Pool.size);
      // Time for all thirty to reach the hashing step, which would have taken a thread each.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(osThreads() - threadsBefore).toBeLessThanOrEqual(offThreadSha256Pool.size);
      expect(offThreadSha256Pool.threads).toBeLessThanOrEqual(offThreadSha256Pool.size);

      // Every hashing thread is held: the honest upload is hashed in place, and right.
      const stored = await within(PROMPTLY_MS, submitter.put(honest.id, honest.data));
      expect(stored.status).toBe(202);
      expect((await submissionState(honest.id)).state).toBe("stored");
      expect(osThreads() - threadsBefore).toBeLessThanOrEqual(offThreadSha256Pool.size);
    } finally {
      for (const upload of held) upload.close();
      await Promise.all(held.map((upload) => upload.answer));
    }
    await until(async () => offThreadSha256Pool.busy === 0);
    for (const { id } of waiting) expect((await submissionState(id)).state).toBe("awaiting_data");
  });
});

/** Threads of this process (the worker runs in it), as the kernel counts them. */
function osThreads(): number {
  return existsSync("/proc/self/task") ? readdirSync("/proc/self/task").length : 0;
}

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

/** The block count once it has stopped moving for 300 ms. */
async function settledBlocks(): Promise<number> {
  let last = s.storedBlocks();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const now = s.storedBlocks();
    if (now === last) return now;
    last = now;
  }
}

async function until(condition: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Condition not met within ${ms} ms.`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
