import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { Hex } from "viem";
import { createWorkerSystem, type WorkerSystem } from "../helpers/createWorkerSystem.ts";
import { createSubmitter, trainingData, type RawAnswer, type Submitter } from "../helpers/submissions.ts";
import { createInputTally, HOSTILE_TEST_TIMEOUT_MS } from "./expectRefusal.ts";
import { createHostileClient, type HostileClient } from "./hostileHttp.ts";
import { readWorkerState, type WorkerState } from "./readWorkerState.ts";

// Many connections at once against the upload route of a worker that reads at most
// MAX_UPLOADS uploads at a time: uploads past the cap are answered UPLOADS_BUSY with Retry-After
// before a byte of their body is read, strangers are refused without taking a place, uploads
// that stall give their place back at the idle timeout, and every submission still gets stored
// and recorded once: nothing is lost.

const MAX_UPLOADS = 4;
const BODY_IDLE_TIMEOUT_MS = 1_500;

let s: WorkerSystem;
let submitter: Submitter;
let client: HostileClient;
const tally = createInputTally("many upload connections");
vi.setConfig({ testTimeout: HOSTILE_TEST_TIMEOUT_MS });

beforeAll(async () => {
  s = await createWorkerSystem({ maxConcurrentUploads: MAX_UPLOADS, bodyIdleTimeoutMs: BODY_IDLE_TIMEOUT_MS });
  submitter = createSubmitter(s);
  client = createHostileClient(s.url);
});
afterAll(async () => {
  tally.report();
  client?.close();
  await s?.close();
});

const state = (): Promise<WorkerState> =>
  readWorkerState({
    worker: s.worker,
    dataDir: s.dataDir,
    client,
    publicClient: s.publicClient,
    account: s.accounts.worker.account.address,
    contributor: s.accounts.contributor.account.address,
  });

const statusOf = async (id: string) =>
  ((await (await fetch(`${s.url}/v1/submissions/${id}`)).json()) as { state: string }).state;

/** Submissions accepted and awaiting their data. */
async function begin(count: number, size = 20_000) {
  const begun: { id: string; data: Uint8Array; dataHash: Hex }[] = [];
  for (let i = 0; i < count; i++) {
    const { envelope, data } = await submitter.prepare({ data: trainingData(size) });
    const answer = await submitter.post(envelope);
    expect(answer.status).toBe(201);
    begun.push({ id: answer.json.id as string, data, dataHash: envelope.dataHash });
  }
  return begun;
}

/** Answered within `ms`, or undefined. */
const within = (answer: Promise<RawAnswer | undefined>, ms: number) =>
  Promise.race([answer, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms))]);

/** The threads of this process (the worker runs in it). */
const threads = () => Number(/^Threads:\s+(\d+)/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1]);

describe("many upload connections at once", () => {
  it("answers uploads past the cap UPLOADS_BUSY with Retry-After before reading them, refuses strangers, and stores every submission once", async () => {
    const held = await begin(MAX_UPLOADS);
    const waiting = await begin(24);
    const before = await state();

    // The cap's worth of uploads, each sending part of its body and then holding its connection.
    const open = held.map(({ id, data }) => submitter.openUpload(id, data.byteLength, data.subarray(0, 5_000)));
    await new Promise((resolve) => setTimeout(resolve, 300));

    // Every other contributor upload is answered at once, with nothing of its body read...
    tally.add(waiting.length);
    const busy = waiting.map(({ id, data }) => submitter.openUpload(id, data.byteLength, data.subarray(0, 1_000)));
    for (const answer of await Promise.all(busy.map((b) => within(b.answer, BODY_IDLE_TIMEOUT_MS / 2)))) {
      expect(answer?.status).toBe(503);
      expect(answer?.json.code).toBe("UPLOADS_BUSY");
      expect(answer?.json.retryable).toBe(true);
      expect(Number(answer?.headers["retry-after"])).toBeGreaterThan(0);
      expect(answer?.headers.connection).toBe("close");
    }
    for (const b of busy) b.close();
    // ...and strangers are refused as they always are, without taking a place.
    tally.add(waiting.length);
    const strangers = waiting.map(({ id, data }) =>
      submitter.openUpload(id, data.byteLength, data.subarray(0, 1_000), { token: null }),
    );
    for (const answer of await Promise.all(strangers.map((b) => within(b.answer, BODY_IDLE_TIMEOUT_MS / 2)))) {
      expect(answer?.json.code).toBe("UPLOAD_UNAUTHORISED");
    }
    for (const b of strangers) b.close();
    // Nothing of a refused upload was kept, and every submission still awaits its data.
    expect(await state()).toEqual(before);
    for (const { id } of waiting) expect(await statusOf(id)).toBe("awaiting_data");

    // The held uploads finish and are stored.
    held.forEach(({ data }, i) => open[i]!.send(data.subarray(5_000)));
    for (const upload of open) {
      const answer = await upload.answer;
      upload.close();
      expect(answer?.status).toBe(202);
    }
    // The refused ones, sent again no more than the cap at a time, are all stored.
    for (let i = 0; i < waiting.length; i += MAX_UPLOADS) {
      const batch = waiting.slice(i, i + MAX_UPLOADS);
      const answers = await Promise.all(batch.map(({ id, data }) => submitter.put(id, data)));
      for (const answer of answers) expect(answer.status).toBe(202);
    }
    expect(await s.worker.flush()).toBe(held.length + waiting.length);
    for (const { id } of [...held, ...waiting]) expect(await statusOf(id)).toBe("recorded");
    const after = await state();
    expect(after.internalErrors).toBe(before.internalErrors);
  });

  it("keeps its threads bounded under many large uploads that send one byte and stall, and gives their places back at the idle timeout", async () => {
    // Uploads of 5 MiB, large enough to be hashed off the event loop; the client sends one byte.
    const count = 40;
    const large: { id: string; size: number }[] = [];
    for (let i = 0; i < count; i++) {
      const size = 5 * 1024 * 1024;
      const { envelope } = await submitter.prepare({
        data: new Uint8Array(0),
        dataHash: `0x${randomBytes(32).toString("hex")}`,
        size: BigInt(size),
      });
      const answer = await submitter.post(envelope);
      expect(answer.status).toBe(201);
      large.push({ id: answer.json.id as string, size });
    }
    const threadsBefore = threads();
    tally.add(count);
    const stalled = large.map(({ id, size }) => submitter.openUpload(id, size, Uint8Array.of(1)));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const threadsDuring = threads();
    const answers = await Promise.all(stalled.map((upload) => upload.answer));
    for (const upload of stalled) upload.close();
    console.log(`threads: ${threadsBefore} before, ${threadsDuring} with ${count} stalled 5 MiB uploads`);
    // Threads do not grow with the connections: only the cap's worth of uploads are in flight, and
    // their hashing shares a bounded pool (one thread per connection would be `count` more).
    expect(threadsDuring - threadsBefore).toBeLessThan(count / 2);
    const codes = answers.map((answer) => answer?.json.code);
    expect(codes.filter((code) => code === "REQUEST_TIMEOUT")).toHaveLength(MAX_UPLOADS);
    expect(codes.filter((code) => code === "UPLOADS_BUSY")).toHaveLength(count - MAX_UPLOADS);

    // The places are free again: a whole upload goes through.
    const [fresh] = await begin(1);
    expect((await submitter.put(fresh!.id, fresh!.data)).status).toBe(202);
    for (const { id } of large) expect(await statusOf(id)).toBe("awaiting_data");
  });
});
