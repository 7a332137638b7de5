// The model `npm start` trains on a fresh stack, from the demo contributions it seeds: the first
// thing a new user queries. It must get the obvious cases right, the consume page's example first.
import { describe, expect, it } from "vitest";
import { createEmbeddedModel, trainEmbeddedModelFromStream } from "../../src/model/createEmbeddedModel.ts";
import {
  FIRST_START_BATCHES,
  FIRST_START_HELD_OUT,
  generateScamMessages,
  LEGIT_LABEL,
  SCAM_LABEL,
} from "../../src/model/generateScamMessages.ts";
import { formatTrainingRecords, readTrainingRecords } from "../../src/model/trainingRecords.ts";

/** The bytes each contribution carries, read back as the training run reads them. */
async function* contributedRecords() {
  for (const batch of FIRST_START_BATCHES) {
    yield* readTrainingRecords([new TextEncoder().encode(formatTrainingRecords(generateScamMessages(batch)))]);
  }
}

const model = createEmbeddedModel({ weights: await trainEmbeddedModelFromStream(contributedRecords()) });

const OBVIOUS: [string, string][] = [
  // The governance UI's consume page suggests this one.
  ["URGENT: verify your wallet seed phrase to claim your prize", SCAM_LABEL],
  ["Send 0.5 ETH to 0x1234567890abcdef1234567890abcdef12345678 and get 1 ETH back, Vitalik giveaway!", SCAM_LABEL],
  ["Your MetaMask wallet will be suspended. Enter your private key at metamask-secure.xyz to keep access", SCAM_LABEL],
  ["You won 5,000 USDT! Connect your wallet to claim your reward now", SCAM_LABEL],
  ["Support here: DM me your 12-word recovery phrase and I will unlock your funds", SCAM_LABEL],
  ["are we still on for lunch tomorrow? I can bring the charger", LEGIT_LABEL],
  ["Your order #48213 from IKEA has shipped and will arrive on Friday.", LEGIT_LABEL],
  ["Your parcel is ready for pickup at the post office", LEGIT_LABEL],
  ["Congratulations, you won a gift card, send your password to claim it", SCAM_LABEL],
  ["The vote passed with 80% in favour; it will be executed after the timelock.", LEGIT_LABEL],
  ["Never share your seed phrase with anyone: support will never ask for it.", LEGIT_LABEL],
  ["thanks for dinner yesterday! I sent you 20 EUR for my half", LEGIT_LABEL],
  ["Happy birthday! Hope you have a great day", LEGIT_LABEL],
];

describe("the first-start model (npm start's demo contributions)", () => {
  it.each(OBVIOUS)("labels %j %s", async (text, label) => {
    expect((await model.classify(text)).label).toBe(label);
  });

  it("scores 95% or more on held-out messages (3% of their labels are flipped, so about 97% is the ceiling)", async () => {
    const heldOut = generateScamMessages(FIRST_START_HELD_OUT);
    let correct = 0;
    for (const record of heldOut) if ((await model.classify(record.text)).label === record.label) correct++;
    expect(correct / heldOut.length).toBeGreaterThanOrEqual(0.95);
  });
});
