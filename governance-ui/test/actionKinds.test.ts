import { decodeFunctionData, getAddress, keccak256, parseEther, toHex } from "viem";
import { describe, expect, test } from "vitest";
import { contributorRewardsAbi, policyRegistryAbi } from "../../deployments/abis.ts";
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
      members: `${address(60)} 0x04aa\n${address(61)} 0x04bb`,
      threshold: "2",
    });
    expect(decoded.args).toEqual([[address(60), address(61)], ["0x04aa", "0x04bb"], 2]);
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
    const threshold = build("committee", { members: `${address(60)} 0x04aa`, threshold: "2" });
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
