import { describe, expect, it } from "vitest";
import { BaseError } from "../../src/internal/BaseError.ts";
import {
  evaluatePolicyFreshness,
  type EvaluatePolicyFreshnessParameters,
} from "../../src/policy/evaluatePolicyFreshness.ts";

const syncedAt = Date.UTC(2026, 0, 1, 12, 0, 0);
// A poll that succeeded at `syncedAt`, with its head a second old then and the cursor two blocks behind.
const fresh: EvaluatePolicyFreshnessParameters = {
  now: syncedAt + 1_000,
  published: { confirmedBlock: 98n, policyVersion: 7n, headBlock: 100n, syncedAt },
  lastSuccessAt: syncedAt,
  lastFailure: undefined,
  inconsistency: undefined,
  latestHead: { number: 100n, timestamp: BigInt(syncedAt / 1000 - 1) },
  confirmedBlock: 98n,
  stalenessMs: 60_000,
  maxHeadAgeSeconds: 30,
  maxLagBlocks: 18,
};

function staleOf(parameters: Partial<EvaluatePolicyFreshnessParameters>) {
  const result = evaluatePolicyFreshness({ ...fresh, ...parameters });
  if (result.fresh) throw new Error("expected a stale policy");
  return result;
}

describe("evaluatePolicyFreshness", () => {
  it("lets a policy from a recent poll of a recent head with a small lag be enforced", () => {
    expect(evaluatePolicyFreshness(fresh)).toEqual({ fresh: true, ageMs: 1_000 });
  });

  it("refuses before the first poll, and says so differently once a poll failed", () => {
    const never = staleOf({ published: undefined, lastSuccessAt: undefined });
    expect(never.reason).toBe("not-synced");
    expect(never.error.code).toBe("POLICY_STALE");
    expect(never.error.shortMessage).toBe("The policy has not been read from the chain yet.");
    expect(never.error.retryable).toBe(true);
    expect(never.error.extra).toEqual({ reason: "not-synced" });

    const cause = new BaseError("connect ECONNREFUSED");
    const failed = staleOf({
      published: undefined,
      lastSuccessAt: undefined,
      lastFailure: { at: syncedAt, error: cause },
    });
    expect(failed.error.shortMessage).toBe("The policy could not be read from the chain yet.");
    expect(failed.error.cause).toBe(cause);
  });

  it("refuses after a failed poll until one succeeds, with the failure's details for the operator", () => {
    const cause = new BaseError("The RPC node failed while the policy was synced.", {
      cause: new Error("socket hang up"),
    });
    const failed = staleOf({ now: syncedAt + 5_000, lastFailure: { at: syncedAt + 4_000, error: cause } });
    expect(failed.reason).toBe("sync-failed");
    expect(failed.error.shortMessage).toBe(
      "The policy cannot be confirmed fresh: the last poll of the chain failed (last good poll 5 s ago, at block 100).",
    );
    expect(failed.error.details).toBe("The RPC node failed while the policy was synced. socket hang up");
    expect(failed.error.extra).toEqual({
      reason: "sync-failed",
      blockNumber: "98",
      policyVersion: "7",
      syncedAt: new Date(syncedAt).toISOString(),
    });
    expect(failed.ageMs).toBeUndefined();

    // A failure older than the last success no longer counts.
    expect(evaluatePolicyFreshness({ ...fresh, lastFailure: { at: syncedAt - 1, error: cause } }).fresh).toBe(true);
  });

  it("refuses a policy whose last good poll is older than stalenessMs", () => {
    // A chain that mines only on demand: the head's age is not looked at.
    const idle = { maxHeadAgeSeconds: 0 };
    expect(evaluatePolicyFreshness({ ...fresh, ...idle, now: syncedAt + 60_000 }).fresh).toBe(true);
    const old = staleOf({ ...idle, now: syncedAt + 60_001 });
    expect(old.reason).toBe("too-old");
    expect(old.error.shortMessage).toBe("The policy was last confirmed 60 s ago, more than the 60 s allowed.");
    expect(old.ageMs).toBe(60_001);
  });

  it("refuses while the node's head is older than maxHeadAgeSeconds, and never looks when it is 0", () => {
    const headAt = BigInt(syncedAt / 1000 - 40);
    const behind = staleOf({ latestHead: { number: 100n, timestamp: headAt } });
    expect(behind.reason).toBe("head-too-old");
    expect(behind.error.shortMessage).toBe(
      "The RPC node's latest block is 41 s old, more than the 30 s allowed: the node has fallen behind the network, and a change made since would not be seen.",
    );
    expect(
      evaluatePolicyFreshness({ ...fresh, maxHeadAgeSeconds: 0, latestHead: { number: 100n, timestamp: 0n } }).fresh,
    ).toBe(true);
  });

  it("refuses while the confirmed cursor is more than maxLagBlocks behind the newest head", () => {
    expect(evaluatePolicyFreshness({ ...fresh, confirmedBlock: 82n }).fresh).toBe(true);
    const behind = staleOf({ confirmedBlock: 81n });
    expect(behind.reason).toBe("too-far-behind");
    expect(behind.error.shortMessage).toBe(
      "The confirmed policy is 19 blocks behind the chain head, more than the 18 allowed.",
    );
    // Without a head of its own, the lag is measured from the published head.
    expect(staleOf({ latestHead: undefined, confirmedBlock: 81n }).reason).toBe("too-far-behind");
  });

  it("refuses an inconsistent policy before anything else, as not retryable, with the inconsistency's hints", () => {
    const inconsistency = new BaseError("The policy derived from events differs from the views.", {
      hints: ["Check the deployment manifest."],
    });
    const result = staleOf({ inconsistency, now: syncedAt + 3_600_000, confirmedBlock: 0n });
    expect(result.reason).toBe("inconsistent");
    expect(result.error.retryable).toBe(false);
    expect(result.error.hints).toEqual(["Check the deployment manifest."]);
    expect(result.error.cause).toBe(inconsistency);
  });

  it("names the first reason that applies when several do", () => {
    const cause = new BaseError("down");
    expect(
      staleOf({ now: syncedAt + 120_000, lastFailure: { at: syncedAt + 1, error: cause }, confirmedBlock: 0n }).reason,
    ).toBe("sync-failed");
    expect(staleOf({ now: syncedAt + 120_000, confirmedBlock: 0n }).reason).toBe("too-old");
    expect(staleOf({ now: syncedAt + 59_000, confirmedBlock: 0n }).reason).toBe("head-too-old");
  });
});
