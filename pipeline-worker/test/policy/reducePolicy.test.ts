import { describe, expect, it } from "vitest";
import { getAddress, keccak256, toHex, zeroAddress, type Address, type Hex } from "viem";
import type { PolicyEvent } from "../../src/policy/decodePolicyLog.ts";
import { mostRestrictivePolicy } from "../../src/policy/mostRestrictivePolicy.ts";
import {
  createGenesisPolicy,
  epochAt,
  isSubmitter,
  isTrainingRunApproved,
  isTrustedAttester,
  isWorker,
  quotaOf,
  type Policy,
} from "../../src/policy/Policy.ts";
import { fromPolicyJson, toPolicyJson } from "../../src/policy/policyJson.ts";
import { PolicyVersionGapError } from "../../src/policy/PolicyVersionGapError.ts";
import { reducePolicy } from "../../src/policy/reducePolicy.ts";

const address = (n: number): Address => getAddress(`0x${n.toString(16).padStart(40, "0")}`);
const [alice, bob, carol, guardian] = [address(0xa11ce), address(0xb0b), address(0xca401), address(0x6a4d)];
const schema = keccak256(toHex("schema"));
const runId = keccak256(toHex("run 1"));

const genesis = createGenesisPolicy({ guardian, revealDelay: 600n });

type Change = [PolicyEvent["eventName"], Record<string, unknown>];

/** Builds events with consecutive versions after `from`, one per block. */
function events(from: Policy, ...items: Change[]): PolicyEvent[] {
  return items.map(([eventName, args], i) => {
    const version = from.policyVersion + BigInt(i) + 1n;
    return {
      eventName,
      args: { ...args, policyVersion: version },
      blockNumber: 100n + version,
      blockHash: keccak256(toHex(`block ${version}`)),
      logIndex: 0,
      transactionHash: keccak256(toHex(`tx ${version}`)),
      blockTimestamp: 1_700_000_000n + version,
    } as unknown as PolicyEvent;
  });
}

function apply(from: Policy, ...items: Change[]) {
  return reducePolicy(from, events(from, ...items));
}

describe("reducePolicy", () => {
  it("applies every kind of change and leaves its input untouched", () => {
    const policy = apply(
      genesis,
      ["SubmitterSet", { submitter: alice, allowed: true }],
      [
        "AttestationRequirementSet",
        { schemaUID: schema, attesters: [bob, carol], minAttestations: 2, maxAge: 86_400n },
      ],
      ["QuotaSet", { consumer: bob, queriesPerEpoch: 25n }],
      ["QueryFeeSet", { feePerQuery: 10n ** 15n }],
      ["CommitteeSet", { committeeId: 1n, members: [alice, bob], publicKeys: ["0x01", "0x02"], threshold: 2 }],
      ["WorkerSet", { worker: carol, authorised: true }],
      ["TrainingRunApproved", { runId, specHash: schema, operator: carol, expiresAt: 2_000_000_000n }],
      ["RevealDelaySet", { revealDelay: 60n }],
      ["GuardianSet", { previousGuardian: guardian, newGuardian: alice }],
      ["KillSwitchEngaged", { engagementId: 1n, by: alice, reason: "leak" }],
    );
    expect(policy.policyVersion).toBe(10n);
    expect(isSubmitter(policy, alice.toLowerCase())).toBe(true);
    expect(isTrustedAttester(policy, carol)).toBe(true);
    expect(policy.attestation).toMatchObject({ schemaUID: schema, minAttestations: 2, maxAge: 86_400n });
    expect(quotaOf(policy, bob)).toBe(25n);
    expect(policy.feePerQuery).toBe(10n ** 15n);
    expect(policy.committee).toEqual({ id: 1n, members: [alice, bob], publicKeys: ["0x01", "0x02"], threshold: 2 });
    expect(isWorker(policy, carol)).toBe(true);
    // Not while the kill switch is engaged, as the registry's view says.
    expect(isTrainingRunApproved(policy, runId, 1_999_999_999n)).toBe(false);
    expect(policy.trainingRuns.get(runId)?.revoked).toBe(false);
    expect(policy.revealDelay).toBe(60n);
    expect(policy.guardian).toBe(alice);
    // engagedAt is the engaging block's time, which the event does not carry.
    expect(policy.killSwitch).toEqual({
      engaged: true,
      engagementId: 1n,
      engagedBy: alice,
      engagedAt: 1_700_000_010n,
      reason: "leak",
    });
    expect(genesis.submitters.size).toBe(0);
    expect(genesis.policyVersion).toBe(0n);

    const undone = apply(
      policy,
      ["SubmitterSet", { submitter: alice, allowed: false }],
      ["QuotaSet", { consumer: bob, queriesPerEpoch: 0n }],
      ["WorkerSet", { worker: carol, authorised: false }],
      ["TrainingRunRevoked", { runId }],
      ["KillSwitchLifted", { engagementId: 1n, by: alice }],
    );
    expect(undone.submitters.size).toBe(0);
    // A quota of 0 removes the consumer, as the registry's `quotaOf` then reads 0.
    expect(undone.quotas.has(bob)).toBe(false);
    expect(undone.workers.size).toBe(0);
    expect(undone.trainingRuns.get(runId)?.revoked).toBe(true);
    expect(isTrainingRunApproved(undone, runId, 0n)).toBe(false);
    expect(undone.killSwitch).toEqual({
      engaged: false,
      engagementId: 0n,
      engagedBy: zeroAddress,
      engagedAt: 0n,
      reason: "",
    });
    expect(isSubmitter(policy, alice)).toBe(true);
  });

  it("a re-authorised worker does not get back the runs approved before its removal", () => {
    const approved = apply(
      genesis,
      ["WorkerSet", { worker: carol, authorised: true }],
      ["TrainingRunApproved", { runId, specHash: schema, operator: carol, expiresAt: 2_000_000_000n }],
    );
    expect(isTrainingRunApproved(approved, runId, 1_000n)).toBe(true);
    const back = apply(
      approved,
      ["WorkerSet", { worker: carol, authorised: false }],
      ["WorkerSet", { worker: carol, authorised: true }],
    );
    expect(isWorker(back, carol)).toBe(true);
    expect(back.trainingRuns.get(runId)?.revoked).toBe(true);
    expect(isTrainingRunApproved(back, runId, 1_000n)).toBe(false);

    // A run approved after the new authorisation stands; authorising again changes nothing.
    const newRun = keccak256(toHex("run 2"));
    const renewed = apply(
      back,
      ["TrainingRunApproved", { runId: newRun, specHash: schema, operator: carol, expiresAt: 2_000_000_000n }],
      ["WorkerSet", { worker: carol, authorised: true }],
    );
    expect(isTrainingRunApproved(renewed, newRun, 1_000n)).toBe(true);
  });

  it("no training run reads as approved while the kill switch is engaged", () => {
    const approved = apply(
      genesis,
      ["WorkerSet", { worker: carol, authorised: true }],
      ["TrainingRunApproved", { runId, specHash: schema, operator: carol, expiresAt: 2_000_000_000n }],
      ["KillSwitchEngaged", { engagementId: 1n, by: guardian, reason: "stop training" }],
    );
    expect(isTrainingRunApproved(approved, runId, 1_000n)).toBe(false);
    const lifted = apply(approved, ["KillSwitchLifted", { engagementId: 1n, by: guardian }]);
    expect(isTrainingRunApproved(lifted, runId, 1_000n)).toBe(true);
  });

  it("refuses events that skip a policy version", () => {
    const [first, second] = events(genesis, ["QueryFeeSet", { feePerQuery: 1n }], ["QueryFeeSet", { feePerQuery: 2n }]);
    const error = (() => {
      try {
        reducePolicy(genesis, [second!]);
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(PolicyVersionGapError);
    expect((error as PolicyVersionGapError).shortMessage).toBe(
      "PolicyRegistry event in block 102 carries policy version 2, expected 1: logs are missing.",
    );
    expect((error as PolicyVersionGapError).retryable).toBe(true);
    expect(() => reducePolicy(genesis, [first!, first!])).toThrow(PolicyVersionGapError);
    expect(reducePolicy(genesis, [first!, second!]).feePerQuery).toBe(2n);
  });

  it("refuses a kill switch engagement without its block's time", () => {
    const [engaged] = events(genesis, ["KillSwitchEngaged", { engagementId: 1n, by: alice, reason: "leak" }]);
    expect(() => reducePolicy(genesis, [{ ...engaged!, blockTimestamp: undefined }])).toThrow(/has no block timestamp/);
  });
});

describe("mostRestrictivePolicy", () => {
  const confirmed = apply(
    genesis,
    ["SubmitterSet", { submitter: alice, allowed: true }],
    ["SubmitterSet", { submitter: bob, allowed: true }],
    ["QuotaSet", { consumer: alice, queriesPerEpoch: 100n }],
    ["QuotaSet", { consumer: bob, queriesPerEpoch: 100n }],
    ["QueryFeeSet", { feePerQuery: 5n }],
    ["AttestationRequirementSet", { schemaUID: schema, attesters: [alice, bob], minAttestations: 1, maxAge: 0n }],
    ["WorkerSet", { worker: carol, authorised: true }],
    ["TrainingRunApproved", { runId, specHash: schema, operator: carol, expiresAt: 2_000_000_000n }],
  );

  it("grants only what both views grant and restricts with either", () => {
    const tip = apply(
      confirmed,
      ["SubmitterSet", { submitter: bob, allowed: false }],
      ["SubmitterSet", { submitter: carol, allowed: true }],
      ["QuotaSet", { consumer: alice, queriesPerEpoch: 10n }],
      ["QuotaSet", { consumer: bob, queriesPerEpoch: 1000n }],
      ["QuotaSet", { consumer: carol, queriesPerEpoch: 1000n }],
      ["QueryFeeSet", { feePerQuery: 1n }],
      ["AttestationRequirementSet", { schemaUID: schema, attesters: [bob, carol], minAttestations: 2, maxAge: 60n }],
      ["TrainingRunRevoked", { runId }],
      ["RevealDelaySet", { revealDelay: 6000n }],
    );
    const effective = mostRestrictivePolicy(confirmed, tip);
    expect([...effective.submitters]).toEqual([alice]);
    expect(quotaOf(effective, alice)).toBe(10n);
    expect(quotaOf(effective, bob)).toBe(100n);
    expect(quotaOf(effective, carol)).toBe(0n);
    expect(effective.feePerQuery).toBe(5n);
    expect(effective.attestation).toEqual({ schemaUID: schema, attesters: [bob], minAttestations: 2, maxAge: 60n });
    expect(isTrainingRunApproved(effective, runId, 0n)).toBe(false);
    expect(effective.revealDelay).toBe(6000n);
    expect(effective.policyVersion).toBe(confirmed.policyVersion);
  });

  it("trusts no attester while the schema change is unconfirmed", () => {
    const tip = apply(confirmed, [
      "AttestationRequirementSet",
      { schemaUID: keccak256(toHex("other")), attesters: [alice, bob], minAttestations: 1, maxAge: 0n },
    ]);
    expect(mostRestrictivePolicy(confirmed, tip).attestation.attesters).toEqual([]);
  });

  it("engages the kill switch when either view has it, and lifts it only when both do", () => {
    const engagedAtTip = apply(confirmed, ["KillSwitchEngaged", { engagementId: 1n, by: guardian, reason: "stop" }]);
    expect(mostRestrictivePolicy(confirmed, engagedAtTip).killSwitch).toMatchObject({ engaged: true, reason: "stop" });
    const liftedAtTip = apply(engagedAtTip, ["KillSwitchLifted", { engagementId: 1n, by: guardian }]);
    expect(mostRestrictivePolicy(engagedAtTip, liftedAtTip).killSwitch).toMatchObject({
      engaged: true,
      reason: "stop",
    });
    expect(mostRestrictivePolicy(liftedAtTip, liftedAtTip).killSwitch.engaged).toBe(false);
  });

  it("keeps the confirmed committee until a new one is confirmed", () => {
    const tip = apply(confirmed, [
      "CommitteeSet",
      { committeeId: 1n, members: [alice], publicKeys: ["0x01" as Hex], threshold: 1 },
    ]);
    expect(mostRestrictivePolicy(confirmed, tip).committee.id).toBe(0n);
  });
});

describe("policyJson", () => {
  it("round-trips a policy through JSON, with bigints as decimal strings", () => {
    const policy = apply(
      genesis,
      ["SubmitterSet", { submitter: bob, allowed: true }],
      ["SubmitterSet", { submitter: alice, allowed: true }],
      ["QuotaSet", { consumer: bob, queriesPerEpoch: 2n ** 64n - 1n }],
      ["CommitteeSet", { committeeId: 3n, members: [alice], publicKeys: ["0xabcdef"], threshold: 1 }],
      ["TrainingRunApproved", { runId, specHash: schema, operator: carol, expiresAt: 2_000_000_000n }],
      ["KillSwitchEngaged", { engagementId: 1n, by: alice, reason: "ünïcode reason" }],
    );
    const json = toPolicyJson(policy);
    expect(json.quotas).toEqual({ [bob]: "18446744073709551615" });
    expect(json.submitters).toEqual([...json.submitters].sort());
    const text = JSON.stringify(json);
    const back = fromPolicyJson(JSON.parse(text));
    expect(JSON.stringify(toPolicyJson(back))).toBe(text);
    expect(isSubmitter(back, alice)).toBe(true);
    expect(back.trainingRuns.get(runId)?.expiresAt).toBe(2_000_000_000n);
  });

  it("reads addresses written in one case as checksummed, so they still grant", () => {
    const json = toPolicyJson(
      apply(
        genesis,
        ["SubmitterSet", { submitter: alice, allowed: true }],
        ["QuotaSet", { consumer: bob, queriesPerEpoch: 7n }],
      ),
    );
    const lowered = JSON.parse(JSON.stringify(json).replace(/0x[0-9a-fA-F]{40}/g, (a) => a.toLowerCase()));
    const back = fromPolicyJson(lowered);
    expect([...back.submitters]).toEqual([alice]);
    expect(isSubmitter(back, alice)).toBe(true);
    expect(quotaOf(back, bob)).toBe(7n);
  });

  it("rejects malformed JSON", () => {
    const json = { ...toPolicyJson(genesis), feePerQuery: "-1" };
    expect(() => fromPolicyJson(json)).toThrow(/non-negative decimal integer/);
    expect(() => fromPolicyJson({ ...toPolicyJson(genesis), quotas: { nobody: "1" } })).toThrow();
  });
});

describe("Policy helpers", () => {
  it("answers no for malformed addresses and computes epochs as the registry does", () => {
    expect(isSubmitter(genesis, "not an address")).toBe(false);
    expect(quotaOf(genesis, "0x123")).toBe(0n);
    const schedule = { epochLength: 3600n, epochGenesis: 1_000_000n };
    expect(epochAt(schedule, 1_000_000n)).toBe(0n);
    expect(epochAt(schedule, 1_003_599n)).toBe(0n);
    expect(epochAt(schedule, 1_003_600n)).toBe(1n);
  });
});
