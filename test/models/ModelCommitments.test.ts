import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { getAddress, keccak256, parseEventLogs, toHex, zeroHash, type Address, type Hex } from "viem";
import { modelCommitmentsAbi, policyRegistryAbi } from "../../deployments/abis.ts";
import { createGovernance, registryAction, type Governance } from "../helpers/governance.ts";
import { expectRevert } from "../helpers/revert.ts";
import { createSnapshots } from "../helpers/snapshots.ts";
import { createSystem, type System, type Wallet } from "../helpers/system.ts";

// "Verified AI with delayed publication": the operator of an approved run commits the hashes of
// the weights and the training set; the weights can be revealed only after the reveal delay.

const REVEAL_DELAY = 600n; // createSystem's setting
const RUN = keccak256(toHex("run-approved"));
const OTHER_RUN = keccak256(toHex("run-to-revoke"));
const WEIGHTS = keccak256(toHex("weights"));
const TRAINING_SET = keccak256(toHex("training set"));
const ENCRYPTED_URI = "ipfs://bafybeiencryptedweights";
const CONTRIBUTIONS = { root: keccak256(toHex("contributions")), totalWeight: 10n, uri: "ipfs://bafybeicontributions" };
const REVEALED_URI = "ipfs://bafybeiplaintextweights";

let system: System;
let gov: Governance;
let snapshots: ReturnType<typeof createSnapshots>;
let runExpiresAt: bigint;

beforeAll(async () => {
  system = await createSystem();
  gov = createGovernance(system);
  await system.delegateAll();
  const worker = system.accounts.worker.account.address;
  runExpiresAt = (await system.publicClient.getBlock()).timestamp + 30n * 86_400n;
  await gov.pass([
    registryAction(system, "setWorker", [worker, true]),
    registryAction(system, "approveTrainingRun", [RUN, keccak256(toHex("spec")), worker, runExpiresAt]),
    registryAction(system, "approveTrainingRun", [OTHER_RUN, keccak256(toHex("spec 2")), worker, runExpiresAt]),
  ]);
  snapshots = createSnapshots(system.testClient);
  await snapshots.save();
});
beforeEach(() => snapshots.restore());

const address = (w: Wallet): Address => getAddress(w.account.address);

function commit(runId: Hex, from: Wallet = system.accounts.worker, weightsHash: Hex = WEIGHTS) {
  return from.writeContract({
    address: system.deployment.contracts.modelCommitments,
    abi: modelCommitmentsAbi,
    functionName: "commitModel",
    args: [runId, weightsHash, TRAINING_SET, ENCRYPTED_URI, CONTRIBUTIONS],
  });
}

function reveal(runId: Hex, from: Wallet = system.accounts.worker, uri = REVEALED_URI) {
  return from.writeContract({
    address: system.deployment.contracts.modelCommitments,
    abi: modelCommitmentsAbi,
    functionName: "revealModel",
    args: [runId, uri],
  });
}

function commitmentOf(runId: Hex) {
  return system.publicClient.readContract({
    address: system.deployment.contracts.modelCommitments,
    abi: modelCommitmentsAbi,
    functionName: "commitmentOf",
    args: [runId],
  });
}

const verify = (runId: Hex, weightsHash: Hex) =>
  system.publicClient.readContract({
    address: system.deployment.contracts.modelCommitments,
    abi: modelCommitmentsAbi,
    functionName: "verifyWeightsHash",
    args: [runId, weightsHash],
  });

async function timeOf(hash: Hex) {
  const receipt = await system.wait(hash);
  const block = await system.publicClient.getBlock({ blockNumber: receipt.blockNumber });
  return { receipt, timestamp: block.timestamp };
}

const EMPTY_COMMITMENT = {
  weightsHash: zeroHash,
  trainingSetHash: zeroHash,
  encryptedWeightsURI: "",
  operator: "0x0000000000000000000000000000000000000000",
  committedAt: 0n,
  revealableAt: 0n,
  revealedURI: "",
  contributionsRoot: zeroHash,
  totalWeight: 0n,
  contributionsURI: "",
};

describe("ModelCommitments", () => {
  it("lets the approved run's operator commit, and reveal only once the delay has passed", async () => {
    const worker = address(system.accounts.worker);
    const { receipt, timestamp: committedAt } = await timeOf(await commit(RUN));
    const revealableAt = committedAt + REVEAL_DELAY;
    const [committed] = parseEventLogs({ abi: modelCommitmentsAbi, eventName: "ModelCommitted", logs: receipt.logs });
    expect(committed?.args).toEqual({
      runId: RUN,
      weightsHash: WEIGHTS,
      trainingSetHash: TRAINING_SET,
      encryptedWeightsURI: ENCRYPTED_URI,
      operator: worker,
      revealableAt,
      contributionsRoot: CONTRIBUTIONS.root,
      totalWeight: CONTRIBUTIONS.totalWeight,
      contributionsURI: CONTRIBUTIONS.uri,
    });
    expect(await commitmentOf(RUN)).toEqual({
      weightsHash: WEIGHTS,
      trainingSetHash: TRAINING_SET,
      encryptedWeightsURI: ENCRYPTED_URI,
      operator: worker,
      committedAt,
      revealableAt,
      revealedURI: "",
      contributionsRoot: CONTRIBUTIONS.root,
      totalWeight: CONTRIBUTIONS.totalWeight,
      contributionsURI: CONTRIBUTIONS.uri,
    });
    expect(await verify(RUN, WEIGHTS)).toBe(true);
    expect(await verify(RUN, keccak256(toHex("other weights")))).toBe(false);

    // One second before the delay is over: refused.
    await system.testClient.setNextBlockTimestamp({ timestamp: revealableAt - 1n });
    await expectRevert(reveal(RUN), "ModelRevealTooEarly", [RUN, revealableAt]);
    expect((await commitmentOf(RUN)).revealedURI).toBe("");

    await system.testClient.setNextBlockTimestamp({ timestamp: revealableAt });
    const revealed = await system.wait(await reveal(RUN));
    const [event] = parseEventLogs({ abi: modelCommitmentsAbi, eventName: "ModelRevealed", logs: revealed.logs });
    expect(event?.args).toEqual({ runId: RUN, weightsHash: WEIGHTS, revealedURI: REVEALED_URI });
    expect((await commitmentOf(RUN)).revealedURI).toBe(REVEALED_URI);
    await expectRevert(reveal(RUN, system.accounts.worker, "ipfs://other"), "ModelAlreadyRevealed", [RUN]);
    expect((await commitmentOf(RUN)).revealedURI).toBe(REVEALED_URI);
  });

  it("keeps the delay in force at commit time, even if governance shortens it afterwards", async () => {
    const { timestamp: committedAt } = await timeOf(await commit(RUN));
    await gov.pass([registryAction(system, "setRevealDelay", [0n])]);
    const now = (await system.publicClient.getBlock()).timestamp;
    expect(now).toBeLessThan(committedAt + REVEAL_DELAY);
    await expectRevert(reveal(RUN), "ModelRevealTooEarly", [RUN, committedAt + REVEAL_DELAY]);
  });

  it("refuses a commitment or reveal from anyone but the run's operator", async () => {
    const { outsider, guardian, worker } = system.accounts;
    for (const caller of [outsider, guardian]) {
      await expectRevert(commit(RUN, caller), "ModelNotOperator", [RUN, address(caller), address(worker)]);
    }
    expect(await commitmentOf(RUN)).toEqual(EMPTY_COMMITMENT);

    await system.wait(await commit(RUN));
    await system.testClient.increaseTime({ seconds: Number(REVEAL_DELAY) });
    await expectRevert(reveal(RUN, outsider), "ModelNotOperator", [RUN, address(outsider), address(worker)]);
    expect((await commitmentOf(RUN)).revealedURI).toBe("");
  });

  it("refuses a run that was never approved, was revoked, or has expired", async () => {
    const unknown = keccak256(toHex("never approved"));
    await expectRevert(commit(unknown), "ModelRunNotApproved", [unknown]);
    expect(await commitmentOf(unknown)).toEqual(EMPTY_COMMITMENT);

    await gov.pass([registryAction(system, "revokeTrainingRun", [OTHER_RUN])]);
    await expectRevert(commit(OTHER_RUN), "ModelRunNotApproved", [OTHER_RUN]);
    expect(await commitmentOf(OTHER_RUN)).toEqual(EMPTY_COMMITMENT);

    await system.testClient.setNextBlockTimestamp({ timestamp: runExpiresAt });
    await expectRevert(commit(RUN), "ModelRunNotApproved", [RUN]);
    expect(await commitmentOf(RUN)).toEqual(EMPTY_COMMITMENT);
  });

  it("refuses a second commitment for the same run, and empty values", async () => {
    await expectRevert(commit(RUN, system.accounts.worker, zeroHash), "ModelEmptyValue", []);
    await system.wait(await commit(RUN));
    await expectRevert(commit(RUN, system.accounts.worker, keccak256(toHex("swap"))), "ModelAlreadyCommitted", [RUN]);
    expect((await commitmentOf(RUN)).weightsHash).toBe(WEIGHTS);
    await expectRevert(reveal(OTHER_RUN), "ModelNotCommitted", [OTHER_RUN]);
  });

  it("commits no model while the kill switch is engaged", async () => {
    await system.wait(
      await system.accounts.guardian.writeContract({
        address: system.deployment.contracts.policyRegistry,
        abi: policyRegistryAbi,
        functionName: "engageKillSwitch",
        args: ["training data was poisoned"],
      }),
    );
    await expectRevert(commit(RUN), "ModelKillSwitchEngaged", []);
    expect(await commitmentOf(RUN)).toEqual(EMPTY_COMMITMENT);
  });

  // A compromised worker the DAO removed must not publish a model for a run approved earlier,
  // and keyholders (who read isTrainingRunApproved) must not release shares for it.
  it("refuses a commitment from an operator the DAO has since removed as a worker", async () => {
    await gov.pass([registryAction(system, "setWorker", [system.accounts.worker.account.address, false])]);
    expect(
      await system.publicClient.readContract({
        address: system.deployment.contracts.policyRegistry,
        abi: policyRegistryAbi,
        functionName: "isTrainingRunApproved",
        args: [RUN],
      }),
    ).toBe(false);
    await expectRevert(commit(RUN), "ModelRunNotApproved", [RUN]);
  });
});
