import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import {
  createEmbeddedModel,
  createEmbeddedTrainer,
  decodeEmbeddedWeights,
  embeddedWeightsHash,
  encodeEmbeddedWeights,
  trainEmbeddedModel,
  trainEmbeddedModelFromStream,
} from "../../src/model/createEmbeddedModel.ts";
import { createRandom, generateScamMessages, SCAM_LABEL } from "../../src/model/generateScamMessages.ts";
import { tokenize } from "../../src/model/hashedBagOfWords.ts";
import { formatTrainingRecords, readTrainingRecords, type TrainingRecord } from "../../src/model/trainingRecords.ts";

// The demo data: 2,000 generated training messages and 1,000 held-out ones from another seed.
// Both have 3% of labels flipped, as human labellers disagree, so no model can score 100%.
const train = generateScamMessages({ seed: 1, count: 2000 });
const heldOut = generateScamMessages({ seed: 2, count: 1000 });

// The model must beat always answering the most common label by at least this much accuracy.
const REQUIRED_MARGIN_OVER_MAJORITY = 0.25;

describe("embedded model", () => {
  it(`learns: on held-out data it beats the majority-class baseline by ${REQUIRED_MARGIN_OVER_MAJORITY * 100} points or more`, async () => {
    const model = createEmbeddedModel({ weights: trainEmbeddedModel(train) });
    let correct = 0;
    for (const record of heldOut) if ((await model.classify(record.text)).label === record.label) correct++;
    const accuracy = correct / heldOut.length;
    const scams = heldOut.filter((r) => r.label === SCAM_LABEL).length;
    const majority = Math.max(scams, heldOut.length - scams) / heldOut.length;
    expect(majority).toBeGreaterThan(0.5);
    expect(majority).toBeLessThan(0.7);
    expect(accuracy).toBeGreaterThanOrEqual(majority + REQUIRED_MARGIN_OVER_MAJORITY);
  });

  it("answers a label and a coarse score, nothing more", async () => {
    const model = createEmbeddedModel({ weights: trainEmbeddedModel(train) });
    const answer = await model.classify(
      "MetaMask Security: unusual activity detected. Verify your recovery phrase at https://metamask-verify.xyz",
    );
    expect(Object.keys(answer).sort()).toEqual(["label", "score"]);
    expect(answer.label).toBe("scam");
    expect(["low", "medium", "high"]).toContain(answer.score);
    expect((await model.classify("are we still on for lunch tomorrow? I can bring the charger")).label).toBe("legit");
  });

  it("serialises its weights deterministically: the same records in any order give the same bytes and hash", () => {
    const shuffled = [...train];
    const random = createRandom(7);
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
    }
    const a = encodeEmbeddedWeights(trainEmbeddedModel(train));
    const b = encodeEmbeddedWeights(trainEmbeddedModel(shuffled));
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(embeddedWeightsHash(a)).toMatch(/^0x[0-9a-f]{64}$/);
    // And the bytes read back into weights that encode to the same bytes again.
    const decoded = decodeEmbeddedWeights(a);
    expect(Buffer.from(encodeEmbeddedWeights(decoded)).equals(Buffer.from(a))).toBe(true);
    expect(createEmbeddedModel({ weights: a }).id).toBe(embeddedWeightsHash(a));
  });

  it("refuses weights that are not its format", () => {
    expect(() => decodeEmbeddedWeights(new TextEncoder().encode("{}"))).toThrow(/not embedded-model weights/);
    expect(() => decodeEmbeddedWeights(new TextEncoder().encode("nope"))).toThrow(/not JSON/);
    const weights = trainEmbeddedModel(train, { dimensions: 64 });
    weights.logLikelihoods[0]!.pop();
    expect(() => decodeEmbeddedWeights(encodeEmbeddedWeights(weights))).toThrow(
      expect.objectContaining({ code: "VALIDATION_FAILED" }),
    );
  });

  it("needs two labels to train, and refuses over-long inputs", async () => {
    expect(() => trainEmbeddedModel([{ text: "hello", label: "legit" }])).toThrow(
      expect.objectContaining({ code: "TRAINING_DATA_INVALID" }),
    );
    const model = createEmbeddedModel({ weights: trainEmbeddedModel(train, { dimensions: 64 }) });
    await expect(model.classify("x".repeat(20_000))).rejects.toMatchObject({ code: "VALIDATION_FAILED" });
  });

  it("keeps links' hosts and top-level domains as tokens, and hides addresses and numbers", () => {
    expect(tokenize("Claim at https://claim-arbitrum.xyz/x?ref=1 now! Send 0.5 ETH to 0x" + "ab".repeat(20))).toEqual([
      "claim",
      "at",
      "__url__",
      "__tld_xyz__",
      "__host_claim__",
      "__host_arbitrum__",
      "now",
      "!",
      "send",
      "__number__",
      "eth",
      "to",
      "__address__",
    ]);
  });
});

describe("streaming training", () => {
  it("gives the same weights from a stream, and from parts counted apart then merged, as from the whole set", async () => {
    const whole = encodeEmbeddedWeights(trainEmbeddedModel(train));
    async function* stream() {
      for (const record of train) yield record;
    }
    expect(
      Buffer.from(encodeEmbeddedWeights(await trainEmbeddedModelFromStream(stream()))).equals(Buffer.from(whole)),
    ).toBe(true);
    const merged = createEmbeddedTrainer();
    for (let i = 0; i < train.length; i += 700) {
      const part = createEmbeddedTrainer();
      for (const record of train.slice(i, i + 700)) part.add(record);
      merged.merge(part);
    }
    expect(merged.examples).toBe(train.length);
    expect(Buffer.from(encodeEmbeddedWeights(merged.weights())).equals(Buffer.from(whole))).toBe(true);
  });

  it("holds no record it was given: memory is the counts, whatever the number of records", async () => {
    // A record the trainer kept would survive a garbage collection; none may.
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const watched: WeakRef<object>[] = [];
    async function* stream() {
      for (let seed = 100; seed < 130; seed++) {
        for (const [i, record] of generateScamMessages({ seed, count: 1000 }).entries()) {
          if (i % 100 === 7) watched.push(new WeakRef(record));
          yield record;
        }
      }
    }
    const weights = await trainEmbeddedModelFromStream(stream(), { dimensions: 1024 });
    expect(weights.examples).toBe(30_000);
    await new Promise((resolve) => setTimeout(resolve, 0));
    gc();
    expect(watched.length).toBeGreaterThan(100);
    expect(watched.filter((ref) => ref.deref() !== undefined)).toEqual([]);
  });

  it("refuses more than 64 labels, whole or by merging, leaving the counts as they were", () => {
    const trainer = createEmbeddedTrainer({ dimensions: 16 });
    for (let i = 0; i < 64; i++) trainer.add({ text: "x", label: `label ${i}` });
    expect(() => trainer.add({ text: "x", label: "one too many" })).toThrow(
      expect.objectContaining({ code: "TRAINING_DATA_INVALID" }),
    );
    const other = createEmbeddedTrainer({ dimensions: 16 });
    other.add({ text: "x", label: "label 0" });
    other.add({ text: "y", label: "another" });
    expect(() => trainer.merge(other)).toThrow(/more than 64 distinct labels/);
    expect(trainer.examples).toBe(64);
    expect(trainer.labels()).toHaveLength(64);
    expect(() => trainer.merge(createEmbeddedTrainer({ dimensions: 32 }))).toThrow(/same features/);
  });
});

describe("training records (JSON Lines)", () => {
  const read = async (data: string | Uint8Array, chunk = 7) => {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    const chunks = Array.from({ length: Math.ceil(bytes.length / chunk) }, (_, i) =>
      bytes.subarray(i * chunk, (i + 1) * chunk),
    );
    const records: TrainingRecord[] = [];
    for await (const record of readTrainingRecords(chunks)) records.push(record);
    return records;
  };

  it("round-trip, whatever the chunks the bytes come in (split inside lines and characters)", async () => {
    const records = [...train.slice(0, 20), { text: "émoji 🚀 split across chunks", label: "legit" }];
    const data = formatTrainingRecords(records);
    expect(await read(data, 1)).toEqual(records);
    expect(await read(data, 5)).toEqual(records);
    expect(await read(data, 1 << 20)).toEqual(records);
    expect(await read(data.trimEnd())).toEqual(records);
  });

  it("refuse a file with any line that is not a {text, label} object, naming the line", async () => {
    await expect(read('{"text":"a","label":"scam"}\n\n{"text":"b"}\n')).rejects.toThrow(/Line 3 /);
    await expect(read('{"text":"a","label":"scam","extra":1}')).rejects.toThrow(/Line 1 /);
    await expect(read("not json")).rejects.toMatchObject({ code: "TRAINING_DATA_INVALID" });
    await expect(read(Uint8Array.of(0x7b, 0xff, 0xfe))).rejects.toThrow(/not UTF-8/);
  });

  it("refuse a line longer than any record can be as soon as it is read, not once it ends", async () => {
    let chunksRead = 0;
    async function* endless() {
      for (;;) {
        chunksRead++;
        yield new Uint8Array(64 * 1024).fill(0x61);
      }
    }
    await expect(
      (async () => {
        for await (const record of readTrainingRecords(endless())) expect(record).toBeUndefined();
      })(),
    ).rejects.toThrow(/Line 1 of the training data is longer than any record can be/);
    expect(chunksRead).toBeLessThan(20);
  });
});
