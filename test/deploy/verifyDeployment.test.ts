import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { getAddress, parseEther, zeroAddress, type Abi, type AbiFunction, type Address, type Hex } from "viem";
import { governanceTokenAbi, policyRegistryAbi, timelockControllerAbi } from "../../deployments/abis.ts";
import { readArtifact, type ContractName } from "../../scripts/lib/deploy/contractArtifacts.ts";
import { DEFAULT_GOVERNOR_SETTINGS, type Deployment } from "../../scripts/lib/deploy/deploySystem.ts";
import { assertVerified, REGISTRY_SETTERS, verifyDeployment } from "../../scripts/lib/deploy/verifyDeployment.ts";
import { createSnapshots } from "../helpers/snapshots.ts";
import { createSystem, type System, type Wallet } from "../helpers/system.ts";

// The verification must catch unsafe deployments, not just pass safe ones. Each test builds a
// deliberately broken deployment (by hand from the artifacts, or by altering a real one) and
// checks that exactly the checks that should fail do.

let system: System;
let snapshots: ReturnType<typeof createSnapshots>;

beforeAll(async () => {
  system = await createSystem();
  snapshots = createSnapshots(system.testClient);
  await snapshots.save();
});
beforeEach(() => snapshots.restore());

/** What a hand-built deployment gets wrong on purpose; with none, it is what deploySystem builds. */
type Faults = {
  /** The deployer keeps the timelock's admin role instead of renouncing it. */
  keepAdmin?: boolean;
  extraProposer?: Address;
  extraCanceller?: Address;
  /** Executors other than "anyone". */
  executors?: Address[];
  /** The registry obeys this account instead of the timelock. */
  registryTimelock?: Address;
  guardian?: Address;
  /** The Governor protects guardian-role calls to this registry instead of the system's. */
  governorRegistry?: Address;
  /** The rewards contract reads attestations from here instead of the system's EAS. */
  rewardsEas?: Address;
  timelockMinDelay?: bigint;
  /**
   * Where the supply goes: by default the deployer keeps it (a holder outside the timelock);
   * "timelock" sends it all there, as the old deploy script did; a number of tokens (in the
   * smallest unit) goes to the outsider and the rest to the timelock.
   */
  supply?: "timelock" | bigint;
};

/**
 * Deploys the system's contracts from their artifacts, wired as deploySystem wires them except for
 * the faults asked for, and returns the manifest deploySystem would have written. It reuses the
 * system's EAS and data schema.
 */
async function deployByHand(faults: Faults = {}): Promise<Deployment> {
  const { publicClient, accounts } = system;
  const deployer = accounts.deployer;
  const guardian = faults.guardian ?? accounts.guardian.account.address;
  const startBlock = await publicClient.getBlockNumber();
  const minDelay = faults.timelockMinDelay ?? 60n;

  async function deploy(name: ContractName, args: readonly unknown[]): Promise<Address> {
    const { abi, bytecode } = readArtifact(name);
    const receipt = await system.wait(await deployer.deployContract({ abi, bytecode, args }));
    return receipt.contractAddress!;
  }
  async function timelockCall(functionName: "grantRole" | "renounceRole", role: Hex, account: Address) {
    await system.wait(
      await deployer.writeContract({
        address: timelock,
        abi: timelockControllerAbi,
        functionName,
        args: [role, account],
      }),
    );
  }

  const { eas, schemaRegistry } = system.deployment.contracts;
  const token = await deploy("GovernanceToken", ["DAO AI Governance", "DAIG", deployer.account.address, SUPPLY]);
  const timelock = await deploy("TimelockController", [
    minDelay,
    [],
    faults.executors ?? [zeroAddress],
    deployer.account.address,
  ]);
  const policyRegistry = await deploy("PolicyRegistry", [faults.registryTimelock ?? timelock, guardian, 3600n, 600n]);
  const governor = await deploy("PolicyGovernor", [
    token,
    timelock,
    {
      ...DEFAULT_GOVERNOR_SETTINGS,
      proposalGuardian: guardian,
      policyRegistry: faults.governorRegistry ?? policyRegistry,
    },
  ]);
  const contributorRewards = await deploy("ContributorRewards", [policyRegistry, faults.rewardsEas ?? eas]);
  const modelCommitments = await deploy("ModelCommitments", [policyRegistry]);
  const runRewards = await deploy("RunRewards", [policyRegistry, contributorRewards, modelCommitments]);
  const usageSettlement = await deploy("UsageSettlement", [
    policyRegistry,
    contributorRewards,
    modelCommitments,
    runRewards,
  ]);

  const role = (name: "PROPOSER_ROLE" | "CANCELLER_ROLE" | "DEFAULT_ADMIN_ROLE") =>
    publicClient.readContract({ address: timelock, abi: timelockControllerAbi, functionName: name });
  const [proposerRole, cancellerRole, adminRole] = await Promise.all([
    role("PROPOSER_ROLE"),
    role("CANCELLER_ROLE"),
    role("DEFAULT_ADMIN_ROLE"),
  ]);
  await timelockCall("grantRole", proposerRole, governor);
  await timelockCall("grantRole", cancellerRole, governor);
  if (faults.extraProposer) await timelockCall("grantRole", proposerRole, faults.extraProposer);
  if (faults.extraCanceller) await timelockCall("grantRole", cancellerRole, faults.extraCanceller);
  if (!faults.keepAdmin) await timelockCall("renounceRole", adminRole, deployer.account.address);
  if (faults.supply !== undefined) {
    const transfer = async (to: Address, amount: bigint) =>
      system.wait(
        await deployer.writeContract({
          address: token,
          abi: governanceTokenAbi,
          functionName: "transfer",
          args: [to, amount],
        }),
      );
    const toOutsider = faults.supply === "timelock" ? 0n : faults.supply;
    if (toOutsider > 0n) await transfer(accounts.outsider.account.address, toOutsider);
    await transfer(timelock, SUPPLY - toOutsider);
  }

  return {
    ...system.deployment,
    deploymentBlock: (startBlock + 1n).toString(),
    deployer: deployer.account.address,
    guardian,
    contracts: {
      schemaRegistry,
      eas,
      token,
      timelock,
      governor,
      policyRegistry,
      contributorRewards,
      usageSettlement,
      modelCommitments,
      runRewards,
    },
    settings: { ...system.deployment.settings, timelockMinDelay: "60" },
  };
}

/** The names of the checks that fail, sorted. */
async function failedChecks(deployment: Deployment) {
  const checks = await verifyDeployment(system.publicClient, deployment);
  return checks
    .filter((c) => !c.ok)
    .map((c) => c.name)
    .sort();
}

/** Acts as the timelock itself, as a passed proposal would (or a key that should not exist). */
async function asTimelock(): Promise<Wallet> {
  const timelock = system.deployment.contracts.timelock;
  await system.testClient.impersonateAccount({ address: timelock });
  await system.testClient.setBalance({ address: timelock, value: parseEther("1") });
  return (await system.viem.getWalletClient(timelock)) as unknown as Wallet;
}

/** The hand-built token's supply: DEFAULT_GOVERNOR_SETTINGS' proposal threshold is 1 token of it. */
const SUPPLY = parseEther("100");

const SETTER_CHECKS = REGISTRY_SETTERS.map((s) => `${s.functionName} rejects every caller but the timelock`);

describe("verifyDeployment", () => {
  it("passes a hand-built deployment wired exactly as deploySystem wires it", async () => {
    const deployment = await deployByHand();
    expect(await failedChecks(deployment)).toEqual([]);
    expect(() => assertVerified([])).not.toThrow();
  });

  it("fails when the deployer kept the timelock's admin role", async () => {
    const deployment = await deployByHand({ keepAdmin: true });
    expect(await failedChecks(deployment)).toEqual([
      "the deployer holds no role anywhere",
      "the timelock's admin role is renounced (only the timelock administers itself)",
    ]);
  });

  it("fails when the timelock has a proposer besides the Governor", async () => {
    const deployment = await deployByHand({ extraProposer: system.accounts.outsider.account.address });
    expect(await failedChecks(deployment)).toEqual(["only the Governor can propose to the timelock"]);
  });

  it("fails when the deployer made itself proposer and canceller", async () => {
    const deployer = system.accounts.deployer.account.address;
    const deployment = await deployByHand({ extraProposer: deployer, extraCanceller: deployer });
    expect(await failedChecks(deployment)).toEqual([
      "only the Governor can cancel in the timelock",
      "only the Governor can propose to the timelock",
      "the deployer holds no role anywhere",
    ]);
  });

  it("fails when a proposal (or a leaked key) later granted an extra proposer on a deploySystem deployment", async () => {
    expect(await failedChecks(system.deployment)).toEqual([]);
    const timelock = await asTimelock();
    const proposerRole = await system.publicClient.readContract({
      address: system.deployment.contracts.timelock,
      abi: timelockControllerAbi,
      functionName: "PROPOSER_ROLE",
    });
    await system.wait(
      await timelock.writeContract({
        address: system.deployment.contracts.timelock,
        abi: timelockControllerAbi,
        functionName: "grantRole",
        args: [proposerRole, system.accounts.outsider.account.address],
      }),
    );
    expect(await failedChecks(system.deployment)).toEqual(["only the Governor can propose to the timelock"]);
  });

  it("fails when execution is restricted instead of open to anyone", async () => {
    const deployment = await deployByHand({ executors: [system.accounts.deployer.account.address] });
    expect(await failedChecks(deployment)).toEqual([
      "anyone can execute a queued proposal",
      "the deployer holds no role anywhere",
    ]);
  });

  it("fails when the registry obeys the deployer instead of the timelock", async () => {
    const deployment = await deployByHand({ registryTimelock: system.accounts.deployer.account.address });
    expect(await failedChecks(deployment)).toEqual(
      [
        "the registry obeys the timelock",
        "only the guardian and the timelock can engage the kill switch",
        ...SETTER_CHECKS,
      ].sort(),
    );
  });

  it("fails when the deployer is the guardian", async () => {
    const deployment = await deployByHand({ guardian: system.accounts.deployer.account.address });
    expect(await failedChecks(deployment)).toEqual(["the deployer holds no role anywhere"]);
  });

  it("fails when the deployer is an authorised worker", async () => {
    const timelock = await asTimelock();
    await system.wait(
      await timelock.writeContract({
        address: system.deployment.contracts.policyRegistry,
        abi: policyRegistryAbi,
        functionName: "setWorker",
        args: [system.accounts.deployer.account.address, true],
      }),
    );
    expect(await failedChecks(system.deployment)).toEqual(["the deployer holds no role anywhere"]);
  });

  it("fails when the rewards contract reads attestations from another EAS", async () => {
    const deployment = await deployByHand({ rewardsEas: system.deployment.contracts.schemaRegistry });
    expect(await failedChecks(deployment)).toEqual(["rewards read the registry and EAS"]);
  });

  it("fails when the Governor does not know the registry, so its guardian could cancel its own replacement", async () => {
    const deployment = await deployByHand({ governorRegistry: system.accounts.outsider.account.address });
    expect(await failedChecks(deployment)).toEqual([
      "the Governor's guardian cannot cancel votes replacing it or lifting the kill switch",
    ]);
  });

  it("never verifies a manifest whose address has no code", async () => {
    const nowhere = getAddress(`0x${"12".repeat(20)}`);
    const withContract = (key: keyof Deployment["contracts"]): Deployment => ({
      ...system.deployment,
      contracts: { ...system.deployment.contracts, [key]: nowhere },
    });
    // Verification stops at the missing code, naming it, instead of failing confusingly on reads.
    expect(await failedChecks(withContract("token"))).toEqual(["token has code"]);
    expect(await failedChecks(withContract("modelCommitments"))).toEqual(["modelCommitments has code"]);
  });

  it("makes assertVerified throw, naming every failed check", async () => {
    const deployment = await deployByHand({ keepAdmin: true });
    const checks = await verifyDeployment(system.publicClient, deployment);
    expect(() => assertVerified(checks)).toThrow(/the timelock's admin role is renounced[\s\S]*deployer holds no role/);
  });

  it("fails a deployment that gave the whole supply to the timelock: nobody can ever propose or reach the quorum", async () => {
    const deployment = await deployByHand({ supply: "timelock" });
    const checks = await verifyDeployment(system.publicClient, deployment);
    expect(
      checks
        .filter((c) => !c.ok)
        .map((c) => c.name)
        .sort(),
    ).toEqual([
      "holders outside the timelock can reach the proposal threshold",
      "holders outside the timelock can reach the quorum",
    ]);
    expect(checks.find((c) => c.name.endsWith("the quorum"))!.detail).toBe(
      "holders outside the timelock have 0 of 100 tokens; the quorum is 4",
    );
    expect(() => assertVerified(checks)).toThrow(/holders outside the timelock can reach the proposal threshold/);
  });

  it("fails when the holders can propose but never reach the quorum", async () => {
    // 2 tokens of 100 outside the timelock: above the 1-token threshold, under the 4% quorum.
    const deployment = await deployByHand({ supply: parseEther("2") });
    expect(await failedChecks(deployment)).toEqual(["holders outside the timelock can reach the quorum"]);
  });

  it("passes when the holders outside the timelock can reach both, once they delegate", async () => {
    // Nobody has delegated yet (no votes anywhere): what counts is what they could delegate.
    const deployment = await deployByHand({ supply: parseEther("4") });
    expect(await failedChecks(deployment)).toEqual([]);
  });

  // A zero delay would let a passed proposal execute at once, before the guardian or users react.
  it("fails when the timelock's delay differs from the manifest", async () => {
    const deployment = await deployByHand({ timelockMinDelay: 0n });
    expect(deployment.settings.timelockMinDelay).toBe("60");
    expect(await failedChecks(deployment)).not.toEqual([]);
  });
});

describe("REGISTRY_SETTERS", () => {
  // engageKillSwitch is the guardian's too; joinTier is anyone's (a consumer pays to join a tier).
  it("lists every state-changing function of the PolicyRegistry ABI except engageKillSwitch and joinTier", () => {
    const mutating = (policyRegistryAbi as Abi)
      .filter((item) => item.type === "function" && !["view", "pure"].includes(item.stateMutability))
      .map((item) => (item as AbiFunction).name)
      .filter((name) => name !== "engageKillSwitch" && name !== "joinTier")
      .sort();
    expect(REGISTRY_SETTERS.map((s) => s.functionName).sort()).toEqual(mutating);
  });
});
