import { describe, expect, it } from "vitest";
import { getAddress, keccak256, toHex, type Address } from "viem";
import type { PolicyEvent } from "../../src/policy/decodePolicyLog.ts";
import { mostRestrictivePolicy } from "../../src/policy/mostRestrictivePolicy.ts";
import { createGenesisPolicy, membershipAt, quotaAt, type Policy, type Tier } from "../../src/policy/Policy.ts";
import { fromPolicyJson, toPolicyJson } from "../../src/policy/policyJson.ts";
import { reducePolicy } from "../../src/policy/reducePolicy.ts";

const address = (n: number): Address => getAddress(`0x${n.toString(16).padStart(40, "0")}`);
const [member, voted, stranger, guardian] = [address(0xa11ce), address(0xb0b), address(0xca401), address(0x6a4d)];
const starter: Tier = { queriesPerEpoch: 20n, pricePerEpoch: 10n ** 15n, open: true, maxMembers: 0 };

function policyWith(changes: Partial<Policy>): Policy {
  return { ...createGenesisPolicy({ guardian, revealDelay: 600n }), policyVersion: 7n, ...changes };
}

describe("quotaAt", () => {
  const policy = policyWith({
    tiers: new Map([[0, starter]]),
    // Epochs 3, 4 and 5: `untilEpoch` is exclusive.
    memberships: new Map([
      [member, { tierId: 0, fromEpoch: 3n, untilEpoch: 6n }],
      [voted, { tierId: 0, fromEpoch: 3n, untilEpoch: 6n }],
    ]),
    quotas: new Map([[voted, 500n]]),
  });

  it("gives a member its tier's queries in the epochs it paid for, and nothing just before or after", () => {
    expect([2n, 3n, 4n, 5n, 6n].map((epoch) => quotaAt(policy, member, epoch))).toEqual([0n, 20n, 20n, 20n, 0n]);
    expect(membershipAt(policy, member, 5n)).toEqual({ tierId: 0, fromEpoch: 3n, untilEpoch: 6n });
    expect(membershipAt(policy, member, 6n)).toBeUndefined();
  });

  it("lets a quota the DAO voted win over the tier, in every epoch", () => {
    expect([2n, 4n, 9n].map((epoch) => quotaAt(policy, voted, epoch))).toEqual([500n, 500n, 500n]);
  });

  it("gives nothing to a stranger, to a malformed address, or to members of a removed tier", () => {
    expect(quotaAt(policy, stranger, 4n)).toBe(0n);
    expect(quotaAt(policy, "0xnot-an-address", 4n)).toBe(0n);
    const removed = { ...policy, tiers: new Map([[0, { ...starter, queriesPerEpoch: 0n }]]) };
    expect(quotaAt(removed, member, 4n)).toBe(0n);
    expect(quotaAt(removed, voted, 4n)).toBe(500n);
  });

  it("reads addresses in any case", () => {
    expect(quotaAt(policy, member.toLowerCase(), 4n)).toBe(20n);
  });
});

describe("tiers in the enforced policy and in JSON", () => {
  it("grants a membership or a larger tier only once confirmed, and takes one away at once", () => {
    const confirmed = policyWith({
      tiers: new Map([[0, starter]]),
      memberships: new Map([[member, { tierId: 0, fromEpoch: 3n, untilEpoch: 6n }]]),
    });
    // Unconfirmed: the member renewed to epoch 9, a stranger joined, and the tier was cut to 5 queries.
    const tip = policyWith({
      policyVersion: 10n,
      tiers: new Map([[0, { ...starter, queriesPerEpoch: 5n, open: false, maxMembers: 3 }]]),
      memberships: new Map([
        [member, { tierId: 0, fromEpoch: 3n, untilEpoch: 9n }],
        [stranger, { tierId: 0, fromEpoch: 4n, untilEpoch: 5n }],
      ]),
    });
    const enforced = mostRestrictivePolicy(confirmed, tip);
    expect(enforced.tiers.get(0)).toEqual({
      queriesPerEpoch: 5n,
      pricePerEpoch: 10n ** 15n,
      open: false,
      maxMembers: 3,
    });
    expect(quotaAt(enforced, member, 5n)).toBe(5n);
    expect(quotaAt(enforced, member, 7n)).toBe(0n);
    expect(quotaAt(enforced, stranger, 4n)).toBe(0n);
  });

  it("round-trips tiers and memberships through JSON", () => {
    const policy = policyWith({
      tiers: new Map([
        [1, { ...starter, open: false, maxMembers: 40 }],
        [0, starter],
      ]),
      memberships: new Map([[member, { tierId: 1, fromEpoch: 3n, untilEpoch: 6n }]]),
    });
    const json = toPolicyJson(policy);
    expect(json.tiers).toEqual({
      0: { queriesPerEpoch: "20", pricePerEpoch: "1000000000000000", open: true, maxMembers: 0 },
      1: { queriesPerEpoch: "20", pricePerEpoch: "1000000000000000", open: false, maxMembers: 40 },
    });
    expect(json.memberships).toEqual({ [member]: { tierId: 1, fromEpoch: "3", untilEpoch: "6" } });
    expect(fromPolicyJson(JSON.parse(JSON.stringify(json)))).toEqual(policy);
    expect(() => fromPolicyJson({ ...json, tiers: { 256: json.tiers[0] } })).toThrow(/tier id/);
  });
});

describe("reducePolicy: tiers", () => {
  function event(version: bigint, eventName: string, args: Record<string, unknown>) {
    return {
      eventName,
      args: { ...args, policyVersion: version },
      blockNumber: 100n + version,
      blockHash: keccak256(toHex(`block ${version}`)),
      logIndex: 0,
      transactionHash: keccak256(toHex(`tx ${version}`)),
      blockTimestamp: undefined,
    } as unknown as PolicyEvent;
  }
  const tierSet = (version: bigint, queriesPerEpoch: bigint) =>
    event(version, "TierSet", { tierId: 0, queriesPerEpoch, pricePerEpoch: 10n, open: true, maxMembers: 0 });
  const joined = (version: bigint, fromEpoch: bigint, untilEpoch: bigint) =>
    event(version, "TierJoined", { consumer: member, tierId: 0, fromEpoch, untilEpoch, paid: 10n });
  const genesis = createGenesisPolicy({ guardian, revealDelay: 600n });

  it("keeps the first epoch through a renewal and a join in the epoch the membership ended, as the registry does", () => {
    // Joined in epoch 3 for epochs 3-4, renewed in epoch 4 for epoch 5 (the event gives where the extension starts).
    const renewed = reducePolicy(genesis, [tierSet(1n, 20n), joined(2n, 3n, 5n), joined(3n, 5n, 6n)]);
    expect(renewed.memberships.get(member)).toEqual({ tierId: 0, fromEpoch: 3n, untilEpoch: 6n });
    // Ended as epoch 6 began and joined again in epoch 6: continued, so epoch 5 (settled during 6) keeps its quota.
    const continued = reducePolicy(renewed, [joined(4n, 6n, 7n)]);
    expect(continued.memberships.get(member)).toEqual({ tierId: 0, fromEpoch: 3n, untilEpoch: 7n });
    expect(quotaAt(continued, member, 5n)).toBe(20n);
    expect(quotaAt(continued, member, 6n)).toBe(20n);
    // Joined again after a gap: a new membership.
    const rejoined = reducePolicy(continued, [joined(5n, 9n, 10n)]);
    expect(rejoined.memberships.get(member)).toEqual({ tierId: 0, fromEpoch: 9n, untilEpoch: 10n });
    expect(quotaAt(rejoined, member, 8n)).toBe(0n);
    expect(quotaAt(rejoined, member, 9n)).toBe(20n);
  });

  it("gives nothing once the tier is removed", () => {
    const member3to5 = reducePolicy(genesis, [tierSet(1n, 20n), joined(2n, 3n, 5n)]);
    const removed = reducePolicy(member3to5, [tierSet(3n, 0n)]);
    expect(removed.tiers.get(0)?.queriesPerEpoch).toBe(0n);
    expect(quotaAt(removed, member, 4n)).toBe(0n);
  });
});
