import { getAddress } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWorkerSystem, type WorkerSystem } from "../helpers/createWorkerSystem.ts";
import { createSubmitter, randomBytes, trainingData, type Submitter } from "../helpers/submissions.ts";

// The worker stopped and started again on the same data while uploads are held open: the
// contributor's own upload half sent and stalled, a stranger's PUT to another submission, and a
// contributor's concurrent retry. The upload locks live in memory and the capabilities only hashed
// in the journal, so a stop must neither hang on the held connections nor lose what they guarded:
// every submission stored before it stays stored and is recorded once, and every one still awaiting
// its data takes it afterwards with the capability its POST returned, from nobody else. Before the
// worker aborted uploads at its stop (WORKER_STOPPING), a stop took the held upload's idle timeout
// (30.1 s here).

const KiB = 1024;
/** A stop that waits on held connections would take the idle timeout (30 s) or for ever. */
const PROMPT_STOP_MS = 10_000;

let s: WorkerSystem;
let submitter: Submitter;

beforeAll(async () => {
  s = await createWorkerSystem();
  submitter = createSubmitter(s);
});
afterAll(async () => {
  await s?.close();
});

const stateOf = async (id: string) =>
  ((await (await fetch(`${s.url}/v1/submissions/${id}`)).json()) as { state: string }).state;

describe("a worker stopped while uploads are held open", () => {
  it("stops promptly, keeps what it stored, and afterwards takes the held submissions' data from their contributors only", async () => {
    const stored = await submitter.begin(trainingData(200 * KiB));
    const stalled = await submitter.begin(trainingData(8 * 1024 * KiB));
    const targeted = await submitter.begin(trainingData(100 * KiB));

    expect((await submitter.put(stored.id, stored.data)).status).toBe(202);
    const blocksBefore = s.storedBlocks();
    // The contributor's upload (hashed on the pool's thread): 6 of its 8 MiB sent (the store writes blocks behind, 16 at a time), then nothing more.
    const held = submitter.openUpload(stalled.id, stalled.data.byteLength, stalled.data.subarray(0, 6 * 1024 * KiB));
    // Once its first block is written the worker holds it, and a concurrent retry is refused.
    await expect.poll(() => s.storedBlocks()).toBeGreaterThan(blocksBefore);
    expect((await submitter.put(stalled.id, stalled.data)).json.code).toBe("UPLOAD_IN_PROGRESS");
    // A stranger's PUT, held open with a token of its own making: refused before a byte is read.
    const stranger = submitter.openUpload(targeted.id, targeted.data.byteLength, targeted.data.subarray(0, 10), {
      token: "A".repeat(43),
    });
    expect((await stranger.answer)?.json.code).toBe("UPLOAD_UNAUTHORISED");

    const stopping = Date.now();
    await s.restart();
    expect(Date.now() - stopping).toBeLessThan(PROMPT_STOP_MS);
    // The held upload was told to come back, and was not waited for.
    expect((await held.answer)?.json.code).toBe("WORKER_STOPPING");
    held.close();
    stranger.close();

    expect(await stateOf(stored.id)).toBe("stored");
    expect(await stateOf(stalled.id)).toBe("awaiting_data");
    expect(await stateOf(targeted.id)).toBe("awaiting_data");
    // The capabilities outlive the process; strangers are still refused.
    expect((await submitter.put(targeted.id, randomBytes(100 * KiB), { token: null })).json.code).toBe(
      "UPLOAD_UNAUTHORISED",
    );
    expect((await submitter.put(stalled.id, stalled.data)).status).toBe(202);
    expect((await submitter.put(targeted.id, targeted.data)).status).toBe(202);

    expect(await s.worker.flush()).toBe(3);
    for (const submission of [stored, stalled, targeted]) {
      expect(await stateOf(submission.id)).toBe("recorded");
      expect(getAddress(await submitter.recordedContributor(submission.dataHash))).toBe(
        getAddress(s.accounts.contributor.account.address),
      );
    }
  });
});
