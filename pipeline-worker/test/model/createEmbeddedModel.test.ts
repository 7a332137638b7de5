import { describe, expect, it } from "vitest";
import {
  createEmbeddedModel,
  decodeEmbeddedWeights,
  embeddedWeightsHash,
  encodeEmbeddedWeights,
  trainEmbeddedModel,
} from "../../src/model/createEmbeddedModel.ts";
import { createRandom, generateScamMessages, SCAM_LABEL } from "../../src/model/generateScamMessages.ts";
import { tokenize } from "../../src/model/hashedBagOfWords.ts";
import { formatTrainingRecords, parseTrainingRecords } from "../../src/model/trainingRecords.ts";

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

describe("training records (JSON Lines)", () => {
  it("round-trip", () => {
    const records = train.slice(0, 20);
    expect(parseTrainingRecords(new TextEncoder().encode(formatTrainingRecords(records)))).toEqual(records);
  });

  it("refuse a file with any line that is not a {text, label} object, naming the line", () => {
    expect(() => parseTrainingRecords('{"text":"a","label":"scam"}\n{"text":"b"}\n')).toThrow(/Line 2 /);
    expect(() => parseTrainingRecords('{"text":"a","label":"scam","extra":1}')).toThrow(/Line 1 /);
    expect(() => parseTrainingRecords("not json")).toThrow(expect.objectContaining({ code: "TRAINING_DATA_INVALID" }));
    expect(() => parseTrainingRecords(Uint8Array.of(0xff, 0xfe))).toThrow(/not UTF-8/);
  });
});
