import { describe, expect, it } from "vitest";
import { agreement, extractModel } from "../../scripts/extractionAttack.ts";
import { createEmbeddedModel, trainEmbeddedModel } from "../../src/model/createEmbeddedModel.ts";
import { createQuotaLimitedModel } from "../../src/model/createQuotaLimitedModel.ts";
import { generateScamMessages } from "../../src/model/generateScamMessages.ts";

// The extraction attack behind `scripts/extract-model.ts`, small: the quota stops it, and
// without one the copy it trains agrees with the real model almost everywhere.

const features = { dimensions: 1024, ngrams: 2 as const };
const target = createEmbeddedModel({
  weights: trainEmbeddedModel(generateScamMessages({ seed: 1, count: 1000 }), features),
});
const heldOut = generateScamMessages({ seed: 2, count: 400 }).map((r) => r.text);
const pool = generateScamMessages({ seed: 3, count: 1000 }).map((r) => r.text);

describe("model extraction by retraining on the answers", () => {
  it("is stopped by the quota, and steals far less within it than without one", async () => {
    const limited = createQuotaLimitedModel({ model: target, queriesPerEpoch: 5 });
    const within = await extractModel({ target: limited, pool, budget: 1000, strategy: "uniform", seed: 1, features });
    expect(within).toMatchObject({ queries: 5, stoppedByQuota: true });
    await expect(limited.classify("one more")).rejects.toMatchObject({ code: "QUOTA_EXHAUSTED" });

    const unlimited = createQuotaLimitedModel({ model: target, queriesPerEpoch: Infinity });
    const without = await extractModel({
      target: unlimited,
      pool,
      budget: Infinity,
      strategy: "uniform",
      seed: 1,
      features,
    });
    expect(without).toMatchObject({ queries: 1000, stoppedByQuota: false });

    const stolenWithin = await agreement(within.stolen, target, heldOut);
    const stolenWithout = await agreement(without.stolen, target, heldOut);
    expect(stolenWithout).toBeGreaterThan(0.97);
    expect(stolenWithin).toBeLessThan(stolenWithout - 0.2);
  });

  it("adaptive querying spends exactly the budget it plans for", async () => {
    const limited = createQuotaLimitedModel({ model: target, queriesPerEpoch: 60 });
    const stolen = await extractModel({
      target: limited,
      pool,
      budget: 60,
      strategy: "adaptive",
      seed: 2,
      features,
      rounds: 4,
    });
    expect(stolen).toMatchObject({ queries: 60, stoppedByQuota: false });
    expect(await agreement(stolen.stolen, target, heldOut)).toBeGreaterThan(0.6);
  });
});
