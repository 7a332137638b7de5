import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { createJournal, type Journal } from "../../src/storage/createJournal.ts";

const ALICE = "0xA11CE00000000000000000000000000000000001";
const BOB = "0xb0b0000000000000000000000000000000000002";
const id = (n: number) => `0x${n.toString(16).padStart(64, "0")}`;

const open: Journal[] = [];
afterEach(async () => {
  for (const journal of open.splice(0)) await journal.close();
});

async function openJournal(directory = path.join(mkdtempSync(path.join(tmpdir(), "journal-")), "data", "journal")) {
  let tick = 0;
  const journal = await createJournal({ directory, now: () => new Date(Date.UTC(2026, 0, 1, 0, 0, tick++)) });
  open.push(journal);
  return { journal, directory };
}

async function failure(promise: Promise<unknown>) {
  return promise.then(
    () => {
      throw new Error("expected a failure");
    },
    (error: unknown) => error as { code: string; shortMessage: string; hints: string[] },
  );
}

describe("createJournal", () => {
  it("records a submission's steps from received to recorded, in order", async () => {
    const { journal } = await openJournal();
    const { record, created } = await journal.begin(id(1), { contributor: ALICE, data: { sha256: "0xaa" } });
    expect(created).toBe(true);
    expect(record).toMatchObject({ id: id(1), sequence: 1, contributor: ALICE.toLowerCase(), step: "received" });
    await journal.advance(id(1), "verified", { policyVersion: 7 });
    await journal.advance(id(1), "stored", { cid: "bafy-cipher" });
    await journal.advance(id(1), "submitted", { txHash: "0x01" });
    const done = await journal.advance(id(1), "recorded", { block: 123 });
    expect(done.step).toBe("recorded");
    expect(done.history.map((entry) => entry.step)).toEqual([
      "received",
      "verified",
      "stored",
      "submitted",
      "recorded",
    ]);
    expect(done.data).toEqual({
      received: { sha256: "0xaa" },
      verified: { policyVersion: 7 },
      stored: { cid: "bafy-cipher" },
      submitted: { txHash: "0x01" },
      recorded: { block: 123 },
    });
    expect(await journal.get(id(1))).toEqual(done);
  });

  it("treats a repeated step as a no-op, so a worker can redo what it is unsure it did", async () => {
    const { journal } = await openJournal();
    await journal.begin(id(1), { contributor: ALICE });
    const first = await journal.advance(id(1), "verified", { policyVersion: 7 });
    expect(await journal.advance(id(1), "verified", { policyVersion: 7 })).toEqual(first);
    await journal.advance(id(1), "stored", { cid: "c" });
    // Even a step behind the current one, if it was taken with the same data.
    const stored = await journal.get(id(1));
    expect(await journal.advance(id(1), "verified", { policyVersion: 7 })).toEqual(stored);
    // Concurrent repeats are serialised: one transition, not two.
    await Promise.all([
      journal.advance(id(1), "submitted", { txHash: "0x1" }),
      journal.advance(id(1), "submitted", { txHash: "0x1" }),
    ]);
    expect((await journal.get(id(1)))!.history).toHaveLength(4);
  });

  it("records each attempt to send the transaction", async () => {
    const { journal } = await openJournal();
    await journal.begin(id(1), { contributor: ALICE });
    await journal.advance(id(1), "verified");
    await journal.advance(id(1), "stored");
    await journal.advance(id(1), "submitted", { txHash: "0x1" });
    const retried = await journal.advance(id(1), "submitted", { txHash: "0x2" });
    expect(retried.data.submitted).toEqual({ txHash: "0x2" });
    expect(retried.history.filter((entry) => entry.step === "submitted").map((entry) => entry.data)).toEqual([
      { txHash: "0x1" },
      { txHash: "0x2" },
    ]);
  });

  it("refuses transitions that skip a step, go back, or leave a finished submission", async () => {
    const { journal } = await openJournal();
    await journal.begin(id(1), { contributor: ALICE });
    const skip = await failure(journal.advance(id(1), "recorded"));
    expect(skip).toMatchObject({
      code: "JOURNAL_TRANSITION_INVALID",
      shortMessage: `Submission ${id(1)} cannot go from received to recorded.`,
      hints: ["From received it can go to verified or rejected."],
    });
    await journal.advance(id(1), "verified", { policyVersion: 1 });
    expect((await failure(journal.advance(id(1), "verified", { policyVersion: 2 }))).shortMessage).toBe(
      `Submission ${id(1)} already took step verified with other data.`,
    );
    await journal.advance(id(1), "rejected", { code: "ATTESTATION_INSUFFICIENT" });
    expect(await failure(journal.advance(id(1), "stored"))).toMatchObject({
      shortMessage: `Submission ${id(1)} cannot go from rejected to stored.`,
      hints: ["It is rejected; nothing follows."],
    });
    expect((await failure(journal.advance(id(2), "verified"))).code).toBe("NOT_FOUND");
  });

  it("does not begin a submission twice", async () => {
    const { journal } = await openJournal();
    await journal.begin(id(1), { contributor: ALICE, data: { n: 1 } });
    await journal.advance(id(1), "verified");
    const again = await journal.begin(id(1), { contributor: ALICE, data: { n: 2 } });
    expect(again.created).toBe(false);
    expect(again.record).toMatchObject({ step: "verified", data: { received: { n: 1 } } });
  });

  it("lists a contributor's submissions oldest first, whatever the address's case", async () => {
    const { journal } = await openJournal();
    await journal.begin(id(3), { contributor: ALICE });
    await journal.begin(id(1), { contributor: BOB });
    await journal.begin(id(2), { contributor: ALICE.toLowerCase() });
    expect((await journal.listByContributor(ALICE.toUpperCase().replace("0X", "0x"))).map((r) => r.id)).toEqual([
      id(3),
      id(2),
    ]);
    expect((await journal.listByContributor(BOB)).map((r) => r.id)).toEqual([id(1)]);
    expect(await journal.listByContributor("0x0000000000000000000000000000000000000009")).toEqual([]);
    expect((await journal.listByContributor(ALICE, { limit: 1 })).map((r) => r.id)).toEqual([id(3)]);
    await expect(journal.listByContributor("alice")).rejects.toThrow('"alice" is not an address.');
  });

  it("lists what is unfinished, for a restarted worker to resume", async () => {
    const { journal } = await openJournal();
    for (const n of [1, 2, 3]) await journal.begin(id(n), { contributor: ALICE });
    await journal.advance(id(2), "rejected", { code: "SUBMITTER_NOT_ALLOWED" });
    await journal.advance(id(3), "verified");
    expect((await journal.listUnfinished()).map((r) => [r.id, r.step])).toEqual([
      [id(1), "received"],
      [id(3), "verified"],
    ]);
  });

  it("keeps everything across a reopen, and numbers new submissions after the old ones", async () => {
    const { journal, directory } = await openJournal();
    await journal.begin(id(1), { contributor: ALICE });
    await journal.advance(id(1), "verified", { policyVersion: 3 });
    await journal.close();
    open.splice(open.indexOf(journal), 1);

    const { journal: reopened } = await openJournal(directory);
    expect(await reopened.get(id(1))).toMatchObject({ step: "verified", data: { verified: { policyVersion: 3 } } });
    expect((await reopened.begin(id(2), { contributor: ALICE })).record.sequence).toBe(2);
    expect((await reopened.listByContributor(ALICE)).map((r) => r.id)).toEqual([id(1), id(2)]);
    expect((await reopened.listUnfinished()).map((r) => r.id)).toEqual([id(1), id(2)]);
  });

  it("keeps what a killed worker wrote, and refuses a second worker on the same journal", async () => {
    const directory = mkdtempSync(path.join(tmpdir(), "journal-crash-"));
    const script = path.join(directory, "crash.ts");
    const moduleUrl = pathToFileURL(path.resolve(import.meta.dirname, "../../src/storage/createJournal.ts")).href;
    writeFileSync(
      script,
      `import { createJournal } from ${JSON.stringify(moduleUrl)};
       const journal = await createJournal({ directory: ${JSON.stringify(path.join(directory, "db"))} });
       await journal.begin(${JSON.stringify(id(1))}, { contributor: ${JSON.stringify(ALICE)} });
       await journal.advance(${JSON.stringify(id(1))}, "verified", { policyVersion: 9 });
       process.kill(process.pid, "SIGKILL");`,
    );
    const child = spawnSync(process.execPath, [script], { encoding: "utf8" });
    expect(child.signal).toBe("SIGKILL");

    const { journal } = await openJournal(path.join(directory, "db"));
    expect(await journal.get(id(1))).toMatchObject({ step: "verified", data: { verified: { policyVersion: 9 } } });
    const second = await failure(createJournal({ directory: path.join(directory, "db") }));
    expect(second).toMatchObject({
      code: "STORAGE_UNAVAILABLE",
      shortMessage: `Cannot open the journal in ${path.join(directory, "db")}.`,
    });
  });

  it("refuses ids that cannot be keys", async () => {
    const { journal } = await openJournal();
    await expect(journal.begin("a!b", { contributor: ALICE })).rejects.toThrow('"a!b" is not a submission id.');
  });
});
