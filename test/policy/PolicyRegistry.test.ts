import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { getAddress, keccak256, parseEther, parseEventLogs, toHex, zeroAddress, type Address } from "viem";
import { policyGovernorAbi, policyRegistryAbi, timelockControllerAbi } from "../../deployments/abis.ts";
import { generateKeyholderKeyPair } from "@dao-ai/pipeline-worker/keyholderKeys";
import { REGISTRY_SETTERS } from "../../scripts/lib/deploy/verifyDeployment.ts";
import { createGovernance, registryAction, type Governance } from "../helpers/governance.ts";
import { expectRevert } from "../helpers/revert.ts";
import { createSnapshots } from "../helpers/snapshots.ts";
import { createSystem, type System, type Wallet } from "../helpers/system.ts";

// Every policy item goes through the whole governance cycle (propose, vote directly and by
// signature, queue, wait out the timelock, execute), then the registry is read back and the
// events checked for the policy version each change produced.

let system: System;
let gov: Governance;
let snapshots: ReturnType<typeof createSnapshots>;

beforeAll(async () => {
  system = await createSystem();
  gov = createGovernance(system);
  await system.delegateAll();
  snapshots = createSnapshots(system.testClient);
  await snapshots.save();
});
beforeEach(() => snapshots.restore());

function read<T>(functionName: string, args: readonly unknown[] = []): Promise<T> {
  return system.publicClient.readContract({
    address: system.deployment.contracts.policyRegistry,
    abi: policyRegistryAbi,
    functionName,
    args,
  } as never) as Promise<T>;
}

const policyVersion = () => read<bigint>("policyVersion");
const address = (w: Wallet): Address => getAddress(w.account.address);

/** Passes the actions and returns the registry events, after checking they carry consecutive versions. */
async function passAndExpectVersions(actions: Parameters<Governance["pass"]>[0]) {
  const before = await policyVersion();
  const { receipt } = await gov.pass(actions);
  const events = gov.registryEvents(receipt);
  expect(events.length).toBeGreaterThan(0);
  events.forEach((event, i) => {
    expect((event.args as { policyVersion: bigint }).policyVersion).toBe(before + BigInt(i) + 1n);
  });
  expect(await policyVersion()).toBe(before + BigInt(events.length));
  return events;
}

describe("PolicyRegistry through governance", () => {
  it("allows a submitter, then removes it", async () => {
    const submitter = address(system.accounts.contributor);
    const [allowed] = await passAndExpectVersions([registryAction(system, "setSubmitter", [submitter, true])]);
    expect(allowed?.eventName).toBe("SubmitterSet");
    expect(allowed?.args).toMatchObject({ submitter, allowed: true });
    expect(await read("isSubmitter", [submitter])).toBe(true);

    const [removed] = await passAndExpectVersions([registryAction(system, "setSubmitter", [submitter, false])]);
    expect(removed?.args).toMatchObject({ submitter, allowed: false });
    expect(await read("isSubmitter", [submitter])).toBe(false);
  });

  it("allows and removes submitters in a batch, one event and one version each", async () => {
    const submitters = [system.accounts.contributor, system.accounts.outsider, system.accounts.attester2].map(address);
    const allowed = await passAndExpectVersions([registryAction(system, "setSubmitters", [submitters, true])]);
    expect(allowed.map((e) => e.eventName)).toEqual(["SubmitterSet", "SubmitterSet", "SubmitterSet"]);
    expect(allowed.map((e) => (e.args as { submitter: Address }).submitter)).toEqual(submitters);
    for (const s of submitters) expect(await read("isSubmitter", [s])).toBe(true);

    await passAndExpectVersions([registryAction(system, "setSubmitters", [submitters.slice(1), false])]);
    expect(await read("isSubmitter", [submitters[0]])).toBe(true);
    expect(await read("isSubmitter", [submitters[1]])).toBe(false);
    expect(await read("isSubmitter", [submitters[2]])).toBe(false);
  });

  it("sets the attestation requirement, and replacing it distrusts the old attesters", async () => {
    const schema = system.deployment.dataSchema.uid;
    const first = [address(system.accounts.attester), address(system.accounts.attester2)];
    const [event] = await passAndExpectVersions([
      registryAction(system, "setAttestationRequirement", [schema, first, 2, 86_400n]),
    ]);
    expect(event?.eventName).toBe("AttestationRequirementSet");
    expect(event?.args).toMatchObject({ schemaUID: schema, attesters: first, minAttestations: 2, maxAge: 86_400n });
    expect(await read("attestationRequirement")).toEqual({
      schemaUID: schema,
      attesters: first,
      minAttestations: 2,
      maxAge: 86_400n,
    });
    expect(await read("isTrustedAttester", [first[0]])).toBe(true);

    const second = [address(system.accounts.outsider)];
    await passAndExpectVersions([registryAction(system, "setAttestationRequirement", [schema, second, 1, 0n])]);
    expect(await read("isTrustedAttester", [first[0]])).toBe(false);
    expect(await read("isTrustedAttester", [first[1]])).toBe(false);
    expect(await read("isTrustedAttester", [second[0]])).toBe(true);
  });

  it("sets a consumer's quota and the query fee", async () => {
    const consumer = address(system.accounts.consumer);
    const [quota, fee] = await passAndExpectVersions([
      registryAction(system, "setQuota", [consumer, 25n]),
      registryAction(system, "setQueryFee", [parseEther("0.001")]),
    ]);
    expect(quota?.eventName).toBe("QuotaSet");
    expect(quota?.args).toMatchObject({ consumer, queriesPerEpoch: 25n });
    expect(fee?.eventName).toBe("QueryFeeSet");
    expect(fee?.args).toMatchObject({ feePerQuery: parseEther("0.001") });
    expect(await read("quotaOf", [consumer])).toBe(25n);
    expect(await read("feePerQuery")).toBe(parseEther("0.001"));
  });

  it("votes an access tier that a consumer then joins by paying the treasury, with no proposal", async () => {
    const price = parseEther("0.01");
    const [set] = await passAndExpectVersions([registryAction(system, "setTier", [0, 500n, price, true, 2])]);
    expect(set?.eventName).toBe("TierSet");
    expect(set?.args).toMatchObject({
      tierId: 0,
      queriesPerEpoch: 500n,
      pricePerEpoch: price,
      open: true,
      maxMembers: 2,
    });
    expect(await read("tierCount")).toBe(1);

    const outsider = system.accounts.outsider;
    const join = (epochs: bigint, value: bigint) =>
      outsider.writeContract({
        address: system.deployment.contracts.policyRegistry,
        abi: policyRegistryAbi,
        functionName: "joinTier",
        args: [0, epochs],
        value,
      });
    // The exact price, or nothing happens.
    await expectRevert(join(3n, price), "PolicyTierWrongPayment", [3n * price, price]);
    const treasury = await system.publicClient.getBalance({ address: system.deployment.contracts.timelock });
    const version = await policyVersion();
    const receipt = await system.wait(await join(3n, 3n * price));
    const [joined] = parseEventLogs({ abi: policyRegistryAbi, eventName: "TierJoined", logs: receipt.logs });
    const epoch = await read<bigint>("currentEpoch");
    expect(joined?.args).toEqual({
      consumer: address(outsider),
      tierId: 0,
      fromEpoch: epoch,
      untilEpoch: epoch + 3n,
      paid: 3n * price,
      policyVersion: version + 1n,
    });
    expect(await system.publicClient.getBalance({ address: system.deployment.contracts.timelock })).toBe(
      treasury + 3n * price,
    );
    expect(await read("membershipOf", [address(outsider)])).toEqual([0, epoch, epoch + 3n]);
    expect(await read("quotaAt", [address(outsider), epoch + 2n])).toBe(500n);
    expect(await read("quotaAt", [address(outsider), epoch + 3n])).toBe(0n);
    // A quota voted for the consumer wins over its tier's.
    await passAndExpectVersions([registryAction(system, "setQuota", [address(outsider), 7n])]);
    expect(await read("quotaAt", [address(outsider), epoch])).toBe(7n);
  });

  it("replaces the keyholder committee, numbering committees from 1", async () => {
    const members = system.accounts.keyholders.map(address);
    const keys = members.map(() => toHex(generateKeyholderKeyPair().publicKey));
    expect((await read<readonly unknown[]>("committee"))[0]).toBe(0n);
    const [event] = await passAndExpectVersions([registryAction(system, "setCommittee", [members, keys, 2])]);
    expect(event?.eventName).toBe("CommitteeSet");
    expect(event?.args).toMatchObject({ committeeId: 1n, members, publicKeys: keys, threshold: 2 });
    expect(await read("committee")).toEqual([1n, members, keys, 2]);

    await passAndExpectVersions([registryAction(system, "setCommittee", [members.slice(0, 1), keys.slice(0, 1), 1])]);
    expect(await read("committee")).toEqual([2n, members.slice(0, 1), keys.slice(0, 1), 1]);
  });

  it("approves a training run for an authorised worker, then revokes it", async () => {
    const worker = address(system.accounts.worker);
    const runId = keccak256(toHex("run-1"));
    const specHash = keccak256(toHex("spec-1"));
    const now = (await system.publicClient.getBlock()).timestamp;
    const expiresAt = now + 30n * 86_400n;
    const [workerSet, approved] = await passAndExpectVersions([
      registryAction(system, "setWorker", [worker, true]),
      registryAction(system, "approveTrainingRun", [runId, specHash, worker, expiresAt]),
    ]);
    expect(workerSet?.eventName).toBe("WorkerSet");
    expect(approved?.eventName).toBe("TrainingRunApproved");
    expect(approved?.args).toMatchObject({ runId, specHash, operator: worker, expiresAt });
    expect(await read("isTrainingRunApproved", [runId])).toBe(true);
    expect(await read("trainingRun", [runId])).toEqual({ specHash, operator: worker, expiresAt, revoked: false });

    const [revoked] = await passAndExpectVersions([registryAction(system, "revokeTrainingRun", [runId])]);
    expect(revoked?.eventName).toBe("TrainingRunRevoked");
    expect(revoked?.args).toMatchObject({ runId });
    expect(await read("isTrainingRunApproved", [runId])).toBe(false);
    expect(await read("trainingRun", [runId])).toMatchObject({ revoked: true });
  });

  it("authorises a worker, then removes it", async () => {
    const worker = address(system.accounts.worker);
    const [added] = await passAndExpectVersions([registryAction(system, "setWorker", [worker, true])]);
    expect(added?.args).toMatchObject({ worker, authorised: true });
    expect(await read("isWorker", [worker])).toBe(true);
    const [removed] = await passAndExpectVersions([registryAction(system, "setWorker", [worker, false])]);
    expect(removed?.args).toMatchObject({ worker, authorised: false });
    expect(await read("isWorker", [worker])).toBe(false);
  });

  it("changes the reveal delay", async () => {
    expect(await read("revealDelay")).toBe(600n);
    const [event] = await passAndExpectVersions([registryAction(system, "setRevealDelay", [3_600n])]);
    expect(event?.eventName).toBe("RevealDelaySet");
    expect(event?.args).toMatchObject({ revealDelay: 3_600n });
    expect(await read("revealDelay")).toBe(3_600n);
  });

  it("replaces the guardian in the registry and the Governor in one proposal", async () => {
    const oldGuardian = system.accounts.guardian;
    const newGuardian = system.accounts.keyholders[0];
    const governor = system.deployment.contracts.governor;
    const before = await policyVersion();
    const { receipt } = await gov.pass([
      registryAction(system, "setGuardian", [address(newGuardian)]),
      { target: governor, abi: policyGovernorAbi, functionName: "setProposalGuardian", args: [address(newGuardian)] },
    ]);
    const [event] = gov.registryEvents(receipt);
    expect(event?.eventName).toBe("GuardianSet");
    expect(event?.args).toEqual({
      previousGuardian: address(oldGuardian),
      newGuardian: address(newGuardian),
      policyVersion: before + 1n,
    });
    const [governorEvent] = parseEventLogs({
      abi: policyGovernorAbi,
      eventName: "ProposalGuardianSet",
      logs: receipt.logs,
    });
    expect(governorEvent?.args).toEqual({
      oldProposalGuardian: address(oldGuardian),
      newProposalGuardian: address(newGuardian),
    });
    expect(await read("guardian")).toBe(address(newGuardian));
    expect(
      await system.publicClient.readContract({
        address: governor,
        abi: policyGovernorAbi,
        functionName: "proposalGuardian",
      }),
    ).toBe(address(newGuardian));

    // The old guardian has lost its power; the new one has it.
    await expectRevert(
      oldGuardian.writeContract({
        address: system.deployment.contracts.policyRegistry,
        abi: policyRegistryAbi,
        functionName: "engageKillSwitch",
        args: ["stop"],
      }),
      "PolicyNotGuardian",
      [address(oldGuardian), address(newGuardian)],
    );
    await system.wait(
      await newGuardian.writeContract({
        address: system.deployment.contracts.policyRegistry,
        abi: policyRegistryAbi,
        functionName: "engageKillSwitch",
        args: ["stop"],
      }),
    );
    expect(await read("killSwitchEngaged")).toBe(true);

    // The same goes for cancelling proposals.
    const proposal = await gov.propose([registryAction(system, "setQueryFee", [1n])]);
    await expectRevert(gov.cancel(proposal, oldGuardian), "GovernorUnableToCancel", [
      proposal.proposalId,
      address(oldGuardian),
    ]);
    await gov.cancel(proposal, newGuardian);
    expect(await gov.state(proposal)).toBe("Canceled");
  });

  it("lets the guardian engage the kill switch at once, and only a proposal lift it", async () => {
    const guardian = system.accounts.guardian;
    const before = await policyVersion();
    const reason = "Keyholder 2 reports a leaked share; stopping ingest and training.";
    const receipt = await system.wait(
      await guardian.writeContract({
        address: system.deployment.contracts.policyRegistry,
        abi: policyRegistryAbi,
        functionName: "engageKillSwitch",
        args: [reason],
      }),
    );
    const block = await system.publicClient.getBlock({ blockNumber: receipt.blockNumber });
    const [engaged] = gov.registryEvents(receipt);
    expect(engaged?.eventName).toBe("KillSwitchEngaged");
    expect(engaged?.args).toEqual({ engagementId: 1n, by: address(guardian), reason, policyVersion: before + 1n });
    expect(await read("killSwitchEngaged")).toBe(true);
    expect(await read("killSwitch")).toEqual({
      engaged: true,
      engagementId: 1n,
      engagedBy: address(guardian),
      engagedAt: block.timestamp,
      reason,
    });

    const [lifted] = await passAndExpectVersions([registryAction(system, "liftKillSwitch", [1n])]);
    expect(lifted?.eventName).toBe("KillSwitchLifted");
    expect(lifted?.args).toMatchObject({ engagementId: 1n, by: getAddress(system.deployment.contracts.timelock) });
    expect(await read("killSwitchEngaged")).toBe(false);
    expect(await read("killSwitch")).toEqual({
      engaged: false,
      engagementId: 0n,
      engagedBy: zeroAddress,
      engagedAt: 0n,
      reason: "",
    });
  });
});

describe("PolicyRegistry access control", () => {
  function callAs(caller: Wallet, functionName: string, args: readonly unknown[]) {
    return caller.writeContract({
      address: system.deployment.contracts.policyRegistry,
      abi: policyRegistryAbi,
      functionName,
      args,
    } as never);
  }

  it("refuses every policy change from anyone but the timelock, and nothing changes", async () => {
    const { deployer, holders, guardian, worker, outsider } = system.accounts;
    const timelock = system.deployment.contracts.timelock;
    const before = await policyVersion();
    for (const caller of [deployer, holders[0], guardian, worker, outsider]) {
      for (const setter of REGISTRY_SETTERS) {
        await expectRevert(callAs(caller, setter.functionName, setter.args), "PolicyUnauthorized", [
          address(caller),
          timelock,
        ]);
      }
    }
    expect(await policyVersion()).toBe(before);
  });

  it("refuses policy changes even from the Governor contract itself: only the timelock executes", async () => {
    const governor = system.deployment.contracts.governor;
    await system.testClient.impersonateAccount({ address: governor });
    await system.testClient.setBalance({ address: governor, value: parseEther("1") });
    const asGovernor = (await system.viem.getWalletClient(governor)) as unknown as Wallet;
    await expectRevert(
      callAs(asGovernor, "setQuota", [address(system.accounts.consumer), 1_000n]),
      "PolicyUnauthorized",
      [governor, system.deployment.contracts.timelock],
    );
    expect(await read("quotaOf", [address(system.accounts.consumer)])).toBe(0n);
  });

  it("lets the guardian engage the kill switch but not lift it", async () => {
    const { guardian } = system.accounts;
    await system.wait(await callAs(guardian, "engageKillSwitch", ["incident"]));
    const version = await policyVersion();
    await expectRevert(callAs(guardian, "liftKillSwitch", [1n]), "PolicyUnauthorized", [
      address(guardian),
      system.deployment.contracts.timelock,
    ]);
    expect(await read("killSwitchEngaged")).toBe(true);
    expect(await policyVersion()).toBe(version);
  });

  it("gives the guardian no way around the vote: no timelock role, no Governor settings", async () => {
    const { guardian } = system.accounts;
    const { timelock, governor } = system.deployment.contracts;
    const proposerRole = await system.publicClient.readContract({
      address: timelock,
      abi: timelockControllerAbi,
      functionName: "PROPOSER_ROLE",
    });
    const call = registryAction(system, "setGuardian", [address(guardian)]);
    await expectRevert(
      guardian.writeContract({
        address: timelock,
        abi: timelockControllerAbi,
        functionName: "schedule",
        args: [call.target, 0n, "0x", `0x${"00".repeat(32)}`, `0x${"00".repeat(32)}`, 60n],
      }),
      "AccessControlUnauthorizedAccount",
      [address(guardian), proposerRole],
    );
    await expectRevert(
      guardian.writeContract({
        address: governor,
        abi: policyGovernorAbi,
        functionName: "setProposalGuardian",
        args: [address(system.accounts.outsider)],
      }),
      "GovernorOnlyExecutor",
      [address(guardian)],
    );
    await expectRevert(
      guardian.writeContract({
        address: governor,
        abi: policyGovernorAbi,
        functionName: "updateQuorumNumerator",
        args: [1n],
      }),
      "GovernorOnlyExecutor",
      [address(guardian)],
    );
  });

  it("refuses the kill switch to anyone but the guardian and the timelock", async () => {
    const { outsider, holders } = system.accounts;
    for (const caller of [outsider, holders[0]]) {
      await expectRevert(callAs(caller, "engageKillSwitch", ["panic"]), "PolicyNotGuardian", [
        address(caller),
        address(system.accounts.guardian),
      ]);
    }
    expect(await read("killSwitchEngaged")).toBe(false);
  });

  it("refuses an empty or over-long kill switch reason, and a second engagement", async () => {
    const { guardian } = system.accounts;
    await expectRevert(callAs(guardian, "engageKillSwitch", [""]), "PolicyInvalidReason", [0n]);
    await expectRevert(callAs(guardian, "engageKillSwitch", ["x".repeat(281)]), "PolicyInvalidReason", [281n]);
    expect(await read("killSwitchEngaged")).toBe(false);
    await system.wait(await callAs(guardian, "engageKillSwitch", ["x".repeat(280)]));
    await expectRevert(callAs(guardian, "engageKillSwitch", ["again"]), "PolicyKillSwitchAlreadyEngaged", []);
    expect(await read("killSwitch")).toMatchObject({ reason: "x".repeat(280) });
  });
});
