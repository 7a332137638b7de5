import { describe, expect, it } from "vitest";
import { retryDelay } from "../../src/notifier/retryDelay.ts";

const policy = { maxAttempts: 20, initialDelayMs: 1_000, maxDelayMs: 3_600_000 };

describe("retryDelay", () => {
  it("doubles after each failure, from half to all of the exponential step", () => {
    expect([1, 2, 3, 4].map((attempt) => retryDelay(policy, attempt, () => 0))).toEqual([500, 1_000, 2_000, 4_000]);
    expect([1, 2, 3, 4].map((attempt) => retryDelay(policy, attempt, () => 1))).toEqual([1_000, 2_000, 4_000, 8_000]);
  });

  it("never waits longer than maxDelayMs", () => {
    expect(retryDelay(policy, 19, () => 1)).toBe(3_600_000);
    expect(retryDelay(policy, 1_000, () => 1)).toBe(3_600_000);
  });

  it("spreads twenty attempts over four to eight hours by default", () => {
    const total = (random: () => number) =>
      Array.from({ length: 19 }, (_, i) => retryDelay(policy, i + 1, random)).reduce((a, b) => a + b, 0);
    expect(total(() => 0) / 3_600_000).toBeGreaterThan(4);
    expect(total(() => 1) / 3_600_000).toBeLessThan(8.2);
  });
});
