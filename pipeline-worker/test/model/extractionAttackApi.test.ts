import { describe, expect, it } from "vitest";
import { runApiExtraction } from "../../scripts/apiExtraction.ts";
import { createEmbeddedModel, trainEmbeddedModel } from "../../src/model/createEmbeddedModel.ts";
import { generateScamMessages } from "../../src/model/generateScamMessages.ts";

// The extraction attack behind `scripts/extract-model-api.ts`, small: over the worker's HTTP
// query route, signed queries stop at exactly the consumer's quota (the next is refused with
// QUOTA_EXHAUSTED), and with a large quota the copy agrees with the real model far better.

const features = { dimensions: 1024, ngrams: 2 as const };
const target = createEmbeddedModel({
  weights: trainEmbeddedModel(generateScamMessages({ seed: 1, count: 1000 }), features),
});
const heldOut = generateScamMessages({ seed: 2, count: 400 }).map((r) => r.text);
const pool = generateScamMessages({ seed: 3, count: 300 }).map((r) => r.text);

describe("model extraction over the worker's query API", () => {
  it("is stopped at exactly the quota, and steals far less within it than with a large one", async () => {
    const common = { target, pool, budget: pool.length, heldOut, seed: 1, features };
    const within = await runApiExtraction({ ...common, quota: 5n });
    expect(within).toMatchObject({ answered: 5, stoppedByQuota: true });
    expect(within.refusal).toMatchObject({ code: "QUOTA_EXHAUSTED", quota: "5", used: "5" });

    const large = await runApiExtraction({ ...common, quota: 10_000n });
    expect(large).toMatchObject({ answered: 300, stoppedByQuota: false, refusal: undefined });
    expect(large.agreement).toBeGreaterThan(0.95);
    expect(within.agreement).toBeLessThan(large.agreement - 0.2);
  });
});
