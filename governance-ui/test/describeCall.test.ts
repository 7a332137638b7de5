import { encodeFunctionData, getAddress, parseEther, type Address } from "viem";
import { describe, expect, test } from "vitest";
import { contributorRewardsAbi, policyRegistryAbi } from "../../deployments/abis.ts";
import { describeCall } from "../src/lib/describeCall.ts";
import type { Policy } from "../src/lib/readPolicy.ts";
import type { Deployment } from "../src/lib/RuntimeConfig.ts";

const address = (n: number) => getAddress(`0x${n.toString(16).padStart(40, "0")}`);
const contracts = {
  schemaRegistry: address(1),
  eas: address(2),
  token: address(3),
  timelock: address(4),
  governor: address(5),
  policyRegistry: address(6),
  contributorRewards: address(7),
  usageSettlement: address(8),
  modelCommitments: address(9),
  runRewards: address(10),
} satisfies Deployment["contracts"];
const consumer = getAddress("0xabcdef0000000000000000000000000000001234");

const policy = {
  feePerQuery: parseEther("0.001"),
  quotas: new Map<Address, bigint>([[consumer, 10n]]),
  tiers: new Map([[0, { queriesPerEpoch: 20n, pricePerEpoch: parseEther("0.001"), open: true, maxMembers: 0 }]]),
  submitters: new Set<Address>(),
  workers: new Set<Address>(),
  killSwitch: { engaged: true, engagementId: 2n, engagedBy: address(10), engagedAt: 1n, reason: "test" },
} as unknown as Policy;

const registry = (functionName: string, args: readonly unknown[]) => ({
  target: contracts.policyRegistry,
  value: 0n,
  data: encodeFunctionData({ abi: policyRegistryAbi, functionName, args } as never),
});

describe("describeCall", () => {
  test("says what a registry call does in plain words, and what it changes", () => {
    const described = describeCall(registry("setQuota", [consumer, 100n]), contracts, policy);
    expect(described.summary).toBe("Let 0xABcD…1234 make 100 queries per epoch");
    expect(described.signature).toBe("PolicyRegistry.setQuota");
    expect(described.changes).toEqual([
      { label: "Quota of 0xABcD…1234", before: "10 queries per epoch", after: "100 queries per epoch" },
    ]);
    expect(described.known).toBe(true);
  });

  test("a tier change says what members get, before and after, and a removal says members keep nothing", () => {
    const changed = describeCall(registry("setTier", [0, 50n, parseEther("0.002"), false, 10]), contracts, policy);
    expect(changed.summary).toBe(
      "Change access tier 0: 50 queries per epoch for 0.002 ETH an epoch, closed to new members, at most 10 members, joined by paying with no vote",
    );
    expect(changed.changes).toEqual([
      {
        label: "Access tier 0",
        before: "20 queries per epoch for 0.001 ETH an epoch, open, no member limit",
        after: "50 queries per epoch for 0.002 ETH an epoch, closed to new members, at most 10 members",
      },
    ]);
    expect(describeCall(registry("setTier", [1, 5n, 0n, true, 0]), contracts, policy).summary).toMatch(
      /^Add access tier 1: 5 queries per epoch/,
    );
    expect(describeCall(registry("setTier", [0, 0n, 0n, false, 0]), contracts, policy).summary).toBe(
      "Remove access tier 0: its members keep no quota from it",
    );
  });

  test("a quota of zero removes the consumer", () => {
    expect(describeCall(registry("setQuota", [consumer, 0n]), contracts).summary).toBe(
      "Remove consumer 0xABcD…1234 (no more queries)",
    );
  });

  test("allowing several submitters names each", () => {
    const described = describeCall(registry("setSubmitters", [[consumer, address(11)], true]), contracts, policy);
    expect(described.summary).toBe("Allow 2 accounts to submit training data: 0xABcD…1234, 0x0000…000b");
    expect(described.changes.map((c) => c.after)).toEqual(["yes", "yes"]);
  });

  test("lifting the kill switch names the engagement and shows the switch going off", () => {
    const described = describeCall(registry("liftKillSwitch", [2n]), contracts, policy);
    expect(described.summary).toBe("Lift the kill switch (engagement 2): ingest, inference and training resume");
    expect(described.changes).toEqual([{ label: "Kill switch", before: "engaged (engagement 2)", after: "off" }]);
  });

  test("a stale lift (an earlier engagement's) says it would revert", () => {
    const described = describeCall(registry("liftKillSwitch", [1n]), contracts, policy);
    expect(described.summary).toBe(
      "Lift the kill switch (engagement 1): ingest, inference and training resume (engagement 2 is in force now: this lift would revert)",
    );
    expect(described.changes).toEqual([
      { label: "Kill switch", before: "engaged (engagement 2)", after: "unchanged: this lift would revert" },
    ]);
  });

  test("voiding a contribution says it is never paid", () => {
    const call = {
      target: contracts.contributorRewards,
      value: 0n,
      data: encodeFunctionData({
        abi: contributorRewardsAbi,
        functionName: "voidContribution",
        args: [`0x${"ab".repeat(32)}`],
      }),
    };
    expect(describeCall(call, contracts).summary).toBe(
      "Void the contribution of data 0xababab…ababab: it is never paid, and its share goes to its epoch's other contributions",
    );
  });

  test("funding the reward pool names the epoch and the amount from the treasury", () => {
    const call = {
      target: contracts.contributorRewards,
      value: parseEther("1.5"),
      data: encodeFunctionData({ abi: contributorRewardsAbi, functionName: "fund", args: [3n] }),
    };
    expect(describeCall(call, contracts).summary).toBe(
      "Fund the reward pool of epoch 3 with 1.5 ETH from the treasury",
    );
  });

  test("an unknown call is flagged, with its raw target and calldata", () => {
    const described = describeCall({ target: address(99), value: 0n, data: "0x12345678abcd" }, contracts);
    expect(described.known).toBe(false);
    expect(described.summary).toBe("Raw call to 0x0000…0063 (function 0x12345678)");
    expect(described.fields.find((f) => f.label === "calldata")?.value).toBe("0x12345678abcd");
  });
});
