import { decodeFunctionData, getAddress, keccak256, parseEther, toHex } from "viem";
import { describe, expect, test } from "vitest";
import { contributorRewardsAbi, policyRegistryAbi } from "../../deployments/abis.ts";
import type { Policy } from "../src/lib/readPolicy.ts";
import { actionKind, ACTION_KINDS, type BuildContext } from "../src/routes/proposals/-components/actionKinds.ts";

const address = (n: number) => getAddress(`0x${n.toString(16).padStart(40, "0")}`);
const context: BuildContext = {
  contracts: {
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
  },
  dataSchemaUID: `0x${"ab".repeat(32)}`,
  policy: undefined,
  now: 1_800_000_000,
};

function build(id: string, values: Record<string, string>) {
  const kind = actionKind(id);
  return kind.build({ ...kind.defaults(context), ...values }, context);
}

function decodedRegistryCall(id: string, values: Record<string, string>) {
  const built = build(id, values);
  if (!built.ok) throw new Error(`expected a call, got ${JSON.stringify(built.errors)}`);
  expect(built.call.target).toBe(context.contracts.policyRegistry);
  return decodeFunctionData({ abi: policyRegistryAbi, data: built.call.data });
}

describe("the typed action builder", () => {
  test("every policy setter of the registry has a form", () => {
    const built = new Set(ACTION_KINDS.map((k) => k.id));
    for (const id of [
      "allowSubmitters",
      "removeSubmitters",
      "attestationRequirement",
      "quota",
      "tier",
      "queryFee",
      "committee",
      "approveTrainingRun",
      "revokeTrainingRun",
      "worker",
      "revealDelay",
      "guardian",
      "fundPool",
      "liftKillSwitch",
      "engageKillSwitch",
      "voidContribution",
      "raw",
    ]) {
      expect(built).toContain(id);
    }
  });

  test("one submitter uses setSubmitter, several use setSubmitters", () => {
    expect(decodedRegistryCall("allowSubmitters", { addresses: address(20) })).toMatchObject({
      functionName: "setSubmitter",
      args: [address(20), true],
    });
    expect(decodedRegistryCall("removeSubmitters", { addresses: `${address(20)}\n${address(21)}` })).toMatchObject({
      functionName: "setSubmitters",
      args: [[address(20), address(21)], false],
    });
  });

  test("a quota and a fee are encoded as the registry expects", () => {
    expect(decodedRegistryCall("quota", { consumer: address(30), queriesPerEpoch: "25" })).toMatchObject({
      functionName: "setQuota",
      args: [address(30), 25n],
    });
    expect(decodedRegistryCall("queryFee", { fee: "0.002" })).toMatchObject({
      functionName: "setQueryFee",
      args: [parseEther("0.002")],
    });
  });

  test("a tier is encoded as the registry expects, and ids out of order or a new empty tier are refused", () => {
    expect(
      decodedRegistryCall("tier", {
        tierId: "0",
        queriesPerEpoch: "20",
        pricePerEpoch: "0.001",
        open: "true",
        maxMembers: "50",
      }),
    ).toMatchObject({ functionName: "setTier", args: [0, 20n, parseEther("0.001"), true, 50] });
    const withTiers = { ...context, policy: { tiers: new Map([[0, {}]]) } as unknown as Policy };
    expect(actionKind("tier").defaults(withTiers).tierId).toBe("1");
    const skipped = actionKind("tier").build({ ...actionKind("tier").defaults(withTiers), tierId: "3" }, withTiers);
    expect(skipped.ok ? {} : skipped.errors).toEqual({ tierId: "Tier ids go in order: the next new tier is 1." });
    const empty = actionKind("tier").build(
      { ...actionKind("tier").defaults(withTiers), queriesPerEpoch: "0" },
      withTiers,
    );
    expect(empty.ok ? {} : empty.errors).toEqual({
      queriesPerEpoch: "A new tier must grant at least one query per epoch.",
    });
    // 0 queries on an existing tier removes it.
    expect(
      decodedRegistryCall("tier", { tierId: "0", queriesPerEpoch: "0", pricePerEpoch: "0", open: "false" }).args,
    ).toEqual([0, 0n, 0n, false, 0]);
  });

  test("durations take units; training run names are hashed into ids", () => {
    expect(decodedRegistryCall("revealDelay", { delay: "7 d" }).args).toEqual([604_800n]);
    const run = decodedRegistryCall("approveTrainingRun", {
      runId: "spring-run",
      spec: "train on 2026 data",
      operator: address(40),
      expiresAt: "2030-01-01T00:00",
    });
    expect(run.functionName).toBe("approveTrainingRun");
    expect(run.args?.[0]).toBe(keccak256(toHex("spring-run")));
    expect(run.args?.[2]).toBe(address(40));
  });

  test("the attestation requirement defaults to the system's data schema", () => {
    const decoded = decodedRegistryCall("attestationRequirement", {
      attesters: `${address(50)}, ${address(51)}`,
      minAttestations: "2",
      maxAge: "30 d",
    });
    expect(decoded.args).toEqual([context.dataSchemaUID, [address(50), address(51)], 2, 2_592_000n]);
  });

  test("a committee reads one member and key per line", () => {
    const decoded = decodedRegistryCall("committee", {
      members: `${address(60)} 0x0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798\n${address(61)} 0x02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5`,
      threshold: "2",
    });
    expect(decoded.args).toEqual([
      [address(60), address(61)],
      [
        "0x0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
        "0x02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5",
      ],
      2,
    ]);
  });

  // Issue 19: with keys [K1, K1, K2] and threshold 2, K1's holder recovers every data key alone.
  test("a committee with a repeated or malformed key is refused before anyone votes", () => {
    const repeated = build("committee", {
      members: `${address(60)} 0x0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798\n${address(61)} 0x0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798\n${address(62)} 0x02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5`,
      threshold: "2",
    });
    expect(repeated.ok ? {} : repeated.errors).toEqual({ members: "Line 2: the same public key as another member." });
    const uncompressed = build("committee", { members: `${address(60)} 0x04aa`, threshold: "1" });
    expect(uncompressed.ok ? {} : uncompressed.errors).toEqual({
      members: "Line 1: the public key must be 33 bytes, 0x02 or 0x03 then 32 bytes (a compressed secp256k1 key).",
    });
  });

  test("a lift names the engagement in force, and a stale one is refused", () => {
    expect(decodedRegistryCall("liftKillSwitch", { engagementId: "3" })).toMatchObject({
      functionName: "liftKillSwitch",
      args: [3n],
    });
    const engaged = { killSwitch: { engaged: true, engagementId: 2n } } as unknown as Policy;
    const withPolicy = { ...context, policy: engaged };
    const kind = actionKind("liftKillSwitch");
    expect(kind.defaults(withPolicy)).toEqual({ engagementId: "2" });
    const stale = kind.build({ engagementId: "1" }, withPolicy);
    expect(stale.ok ? {} : stale.errors).toEqual({ engagementId: "Engagement 2 is in force, not 1." });
    const off = { ...context, policy: { killSwitch: { engaged: false, engagementId: 0n } } as unknown as Policy };
    const nothing = kind.build({ engagementId: "2" }, off);
    expect(nothing.ok ? {} : nothing.errors).toEqual({
      engagementId: "The kill switch is not engaged: there is nothing to lift.",
    });
  });

  test("voiding a contribution calls ContributorRewards.voidContribution with its data hash", () => {
    const dataHash = keccak256(toHex("poisoned"));
    const built = build("voidContribution", { dataHash });
    expect(built.ok).toBe(true);
    if (!built.ok) return;
    expect(built.call.target).toBe(context.contracts.contributorRewards);
    expect(built.call.value).toBe(0n);
    expect(decodeFunctionData({ abi: contributorRewardsAbi, data: built.call.data })).toMatchObject({
      functionName: "voidContribution",
      args: [dataHash],
    });
    const bad = build("voidContribution", { dataHash: "poisoned" });
    expect(bad.ok ? {} : bad.errors).toEqual({ dataHash: "Enter 0x followed by 64 hex digits." });
  });

  test("the reveal delay is at most a year, as the registry allows", () => {
    const tooLong = build("revealDelay", { delay: "366 d" });
    expect(tooLong.ok ? {} : tooLong.errors).toEqual({ delay: "The reveal delay may be at most 365 days." });
    expect(decodedRegistryCall("revealDelay", { delay: "365 d" }).args).toEqual([31_536_000n]);
  });

  test("funding the pool sends value to ContributorRewards.fund", () => {
    const built = build("fundPool", { epoch: "4", amount: "2" });
    expect(built.ok).toBe(true);
    if (!built.ok) return;
    expect(built.call.target).toBe(context.contracts.contributorRewards);
    expect(built.call.value).toBe(parseEther("2"));
    expect(decodeFunctionData({ abi: contributorRewardsAbi, data: built.call.data }).args).toEqual([4n]);
  });

  test("mistakes are reported per field, and nothing is built", () => {
    const built = build("quota", { consumer: "0x1234", queriesPerEpoch: "many" });
    expect(built).toEqual({
      ok: false,
      errors: {
        consumer: "Not an address (0x followed by 40 hex digits).",
        queriesPerEpoch: "Enter a whole number.",
      },
    });
    const threshold = build("committee", {
      members: `${address(60)} 0x0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798`,
      threshold: "2",
    });
    expect(threshold.ok ? {} : threshold.errors).toEqual({ threshold: "Must be at most 1." });
    const reason = build("engageKillSwitch", { reason: "x".repeat(281) });
    expect(reason.ok ? {} : reason.errors).toEqual({ reason: "The reason must be 1 to 280 bytes." });
  });

  test("a raw call encodes from a function signature and JSON arguments", () => {
    const built = build("raw", {
      target: context.contracts.policyRegistry,
      signature: "setQuota(address,uint64)",
      args: JSON.stringify([address(70), "9"]),
    });
    expect(built.ok).toBe(true);
    if (!built.ok) return;
    expect(decodeFunctionData({ abi: policyRegistryAbi, data: built.call.data })).toMatchObject({
      functionName: "setQuota",
      args: [address(70), 9n],
    });
  });
});
