import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { zeroAddress, type Hex } from "viem";
import { contributorRewardsAbi } from "../../../deployments/abis.ts";
import { createGovernance, registryAction } from "../../../test/helpers/governance.ts";
import type { Wallet } from "../../../test/helpers/system.ts";
import { readTrainingRecords, type TrainingRecord } from "../../src/model/trainingRecords.ts";
import { createWorkerSystem, type WorkerSystem } from "../helpers/createWorkerSystem.ts";
import { createSubmitter, type Submitter } from "../helpers/submissions.ts";

// Every submission goes through the worker's HTTP API, on a real chain (EAS, ContributorRewards)
// and the worker's embedded Helia node, as a contributor's client sends it.

let s: WorkerSystem;
let submitter: Submitter;

beforeAll(async () => {
  s = await createWorkerSystem({ maxPayloadBytes: 8 * 1024 * 1024 });
  submitter = createSubmitter(s);
  // A second contributor, whose copies of the first one's data must earn nothing.
  await createGovernance(s).pass([registryAction(s, "setSubmitter", [s.accounts.consumer.account.address, true])]);
  await s.worker.policySync.poll();
}, 120_000);
afterAll(async () => {
  await s?.close();
});

/** A message of 30 random words: new to any pool, and far from any other such message. */
function freshText(): string {
  return Array.from({ length: 30 }, () =>
    randomBytes(4)
      .toString("hex")
      .replace(/\d/g, (d) => "ghijklmnop"[+d]!),
  ).join(" ");
}

function freshRecords(count: number): TrainingRecord[] {
  return Array.from({ length: count }, (_, i) => ({ text: freshText(), label: i % 3 === 0 ? "scam" : "legit" }));
}

const jsonl = (records: readonly { text: string; label: string }[]) =>
  new TextEncoder().encode(records.map((r) => `${JSON.stringify(r)}\n`).join(""));

type Status = {
  state: string;
  size: string;
  rejection: { code: string; detail: string } | null;
  validation: { records: number; duplicates: number; nearDuplicates: number; weight: number } | null;
  manifestCid: string | null;
};

async function statusOf(id: string): Promise<Status> {
  return (await (await fetch(`${s.url}/v1/submissions/${id}`)).json()) as Status;
}

async function contributionOf(dataHash: Hex) {
  return s.publicClient.readContract({
    address: s.deployment.contracts.contributorRewards,
    abi: contributorRewardsAbi,
    functionName: "contributionOf",
    args: [dataHash],
  });
}

/** Submits `data` as `contributor` (signs, attests, POSTs, PUTs), lets the worker record it, and reads it back. */
async function submit(data: Uint8Array, contributor?: Wallet) {
  const { envelope } = await submitter.prepare({ data, ...(contributor ? { contributor } : {}) });
  const begun = await submitter.post(envelope);
  expect(begun.status).toBe(201);
  const id = begun.json.id as string;
  const upload = await submitter.put(id, data);
  await s.worker.flush();
  return { id, upload, status: await statusOf(id), onChain: await contributionOf(envelope.dataHash) };
}

function countFiles(directory: string): number {
  return readdirSync(directory, { withFileTypes: true, recursive: true }).filter((entry) => entry.isFile()).length;
}
const blocks = () => countFiles(path.join(s.dataDir, "ipfs", "blocks"));

describe("reward weight: unique accepted records", () => {
  it("weighs a submission by its records, shows the count in its status, and records the weight on chain", async () => {
    const records = freshRecords(12);
    const data = jsonl(records);
    const { upload, status, onChain } = await submit(data);
    expect(upload.status).toBe(202);
    expect(status.state).toBe("recorded");
    expect(status.validation).toEqual({ records: 12, duplicates: 0, nearDuplicates: 0, weight: 12 });
    expect(onChain.size).toBe(BigInt(data.byteLength));
    expect(onChain.weight).toBe(12n);
    // What ingest accepts, the training run reads as it is.
    const read: TrainingRecord[] = [];
    for await (const record of readTrainingRecords([data])) read.push(record);
    expect(read).toEqual(records);
  });

  it("pays a padded submission no more than its unique records", async () => {
    const records = freshRecords(10);
    // The same ten records five times over, re-cased and re-spaced, with blank lines between:
    // six times the bytes, the same records.
    const padded = [
      ...records,
      ...Array.from({ length: 5 }, () =>
        records.map((r) => ({ text: `  ${r.text.toUpperCase().replaceAll(" ", "   ")}\t`, label: r.label })),
      ).flat(),
    ];
    const data = new TextEncoder().encode(padded.map((r) => `${JSON.stringify(r)}\n\n`).join("") + "\n".repeat(10_000));
    const { status, onChain } = await submit(data);
    expect(status.state).toBe("recorded");
    expect(status.validation).toEqual({ records: 60, duplicates: 50, nearDuplicates: 0, weight: 10 });
    expect(onChain.weight).toBe(10n);
    expect(onChain.size).toBe(BigInt(data.byteLength));
  });

  it("gives a second contributor nothing for records already in the pool, and only its new ones", async () => {
    const mine = freshRecords(8);
    expect((await submit(jsonl(mine))).status.validation?.weight).toBe(8);

    // Exactly the same records, in another order and with other labels: a copy earns nothing.
    const copy = jsonl(
      [...mine].reverse().map((r) => ({ text: r.text, label: r.label === "scam" ? "legit" : "scam" })),
    );
    const blocksBefore = blocks();
    const copied = await submit(copy, s.accounts.consumer);
    expect(copied.upload.status).toBe(422);
    expect(copied.upload.json.code).toBe("DATA_NO_UNIQUE_RECORDS");
    expect(copied.upload.json.validation).toEqual({ records: 8, duplicates: 8, nearDuplicates: 0, weight: 0 });
    expect(copied.status.state).toBe("rejected");
    expect(copied.status.rejection?.code).toBe("DATA_NO_UNIQUE_RECORDS");
    expect(copied.status.manifestCid).toBeNull();
    expect(copied.onChain.contributor).toBe(zeroAddress);
    expect(blocks()).toBe(blocksBefore);

    // Half copied, half new: only the new half counts.
    const fresh = freshRecords(4);
    const mixed = await submit(jsonl([...mine.slice(0, 4), ...fresh]), s.accounts.consumer);
    expect(mixed.status.validation).toEqual({ records: 8, duplicates: 4, nearDuplicates: 0, weight: 4 });
    expect(mixed.onChain.weight).toBe(4n);
  });

  it("detects near-duplicate edits (a word changed, a word added, punctuation) and counts them as duplicates", async () => {
    const originals = freshRecords(6);
    expect((await submit(jsonl(originals))).status.validation?.weight).toBe(6);
    const edit = (text: string, how: number) => {
      const words = text.split(" ");
      if (how === 0) words[15] = "replaced";
      if (how === 1) words.splice(10, 0, "inserted");
      if (how === 2) return `${words.join(", ")}!`;
      return words.join(" ");
    };
    const edited = originals.map((r, i) => ({ text: edit(r.text, i % 3), label: r.label }));
    const nearCopy = await submit(jsonl(edited), s.accounts.consumer);
    expect(nearCopy.upload.json.code).toBe("DATA_NO_UNIQUE_RECORDS");
    expect(nearCopy.upload.json.validation).toEqual({ records: 6, duplicates: 0, nearDuplicates: 6, weight: 0 });
    expect(nearCopy.onChain.contributor).toBe(zeroAddress);

    // Near duplicates within one file count once too; unrelated records are untouched.
    const [first] = freshRecords(1);
    const withinFile = await submit(
      jsonl([first!, { text: edit(first!.text, 0), label: "legit" }, ...freshRecords(2)]),
    );
    expect(withinFile.status.validation).toEqual({ records: 4, duplicates: 0, nearDuplicates: 1, weight: 3 });
  });
});

describe("refusals: invalid data is refused with its code before anything is stored or recorded", () => {
  const long = "a".repeat(16_385);
  const cases: [string, Uint8Array, string, Record<string, unknown>?][] = [
    ["bytes that are not UTF-8", Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a]), "DATA_NOT_UTF8"],
    [
      "a line that is not JSON",
      new TextEncoder().encode('{"text": "ok ok", "label": "legit"}\nnot json\n'),
      "DATA_LINE_MALFORMED",
      { line: 2 },
    ],
    ["a JSON array", new TextEncoder().encode('["free airdrop", "scam"]\n'), "DATA_LINE_MALFORMED", { line: 1 }],
    [
      "an extra field",
      new TextEncoder().encode('{"text": "hi there", "label": "scam", "weight": 9}\n'),
      "DATA_LINE_MALFORMED",
    ],
    [
      "a label that is not a string",
      new TextEncoder().encode('{"text": "hi there", "label": 1}\n'),
      "DATA_LINE_MALFORMED",
    ],
    [
      "a label outside the DAO's label set",
      jsonl([{ text: "free airdrop now", label: "spam" }]),
      "DATA_LABEL_UNKNOWN",
      { labels: ["legit", "scam"] },
    ],
    ["a label in another case", jsonl([{ text: "free airdrop now", label: "Scam" }]), "DATA_LABEL_UNKNOWN"],
    ["a text over 16,384 characters", jsonl([{ text: long, label: "legit" }]), "DATA_FIELD_LENGTH", { limit: 16_384 }],
    ["a text of white space only", jsonl([{ text: " \t\n ", label: "legit" }]), "DATA_FIELD_LENGTH"],
    [
      "a zero-width space",
      jsonl([{ text: "send\u200b your seed phrase", label: "legit" }]),
      "DATA_HIDDEN_CHARACTERS",
      { codePoint: "U+200B" },
    ],
    [
      "a right-to-left override",
      jsonl([{ text: "invoice \u202egpj.exe", label: "legit" }]),
      "DATA_HIDDEN_CHARACTERS",
      { codePoint: "U+202E" },
    ],
    [
      "Unicode tag characters",
      jsonl([{ text: `hello${String.fromCodePoint(0xe0069, 0xe0067)}`, label: "legit" }]),
      "DATA_HIDDEN_CHARACTERS",
    ],
    [
      "a control character",
      jsonl([{ text: "hello\u0007 world", label: "legit" }]),
      "DATA_HIDDEN_CHARACTERS",
      { codePoint: "U+0007" },
    ],
    [
      "a lone surrogate from a JSON escape",
      new TextEncoder().encode('{"text": "hi \\ud800 there", "label": "legit"}\n'),
      "DATA_HIDDEN_CHARACTERS",
    ],
    ["blank lines only", new TextEncoder().encode("\n\n  \n"), "DATA_EMPTY"],
  ];

  it.each(cases)("refuses %s", async (_, data, code, extra) => {
    const blocksBefore = blocks();
    const { upload, status, onChain } = await submit(data);
    expect(upload.status).toBe(422);
    expect(upload.json.code).toBe(code);
    if (extra) expect(upload.json).toMatchObject(extra);
    expect(status.state).toBe("rejected");
    expect(status.rejection?.code).toBe(code);
    expect(status.validation).toBeNull();
    expect(status.manifestCid).toBeNull();
    expect(onChain.contributor).toBe(zeroAddress);
    expect(blocks()).toBe(blocksBefore);
  });

  it("refuses more than 100,000 records, and the refused file's records stay new to the pool", async () => {
    const records = Array.from({ length: 100_001 }, (_, i) => ({ text: `m${i}`, label: "legit" }));
    const { upload, onChain } = await submit(jsonl(records));
    expect(upload.json.code).toBe("DATA_TOO_MANY_RECORDS");
    expect(upload.json.limit).toBe(100_000);
    expect(onChain.contributor).toBe(zeroAddress);
    // Nothing of a refused file was admitted to the pool: its records still earn in full.
    expect((await submit(jsonl(records.slice(0, 50)))).status.validation?.weight).toBe(50);
  }, 120_000);
});
