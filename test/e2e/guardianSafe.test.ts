// The guardian as a real Safe: the kill switch engaged through the Safe (one owner proposes, a
// second signs, anyone executes), and the DAO replacing one guardian Safe with another, by a vote
// the Safe cannot cancel.
import { encodeFunctionData, type Address } from "viem";
import { beforeAll, describe, expect, test } from "vitest";
import { policyGovernorAbi, policyRegistryAbi } from "../../deployments/abis.ts";
import {
  deploySafeContracts,
  createSafe,
  type SafeContracts,
  type SafeDeployment,
} from "../../scripts/lib/deploySafe.ts";
import { devAddress, devPrivateKey } from "../../scripts/lib/devAccounts.ts";
import {
  connectGuardian,
  engageKillSwitchCall,
  executeGuardianTransaction,
  proposeGuardianTransaction,
  signGuardianTransaction,
  type PendingGuardianTransaction,
} from "../../scripts/lib/guardianTransactions.ts";
import { createGovernance, ProposalState, registryAction } from "../helpers/governance.ts";
import { createSystem, type System } from "../helpers/system.ts";

// Owners of the two Safes: development accounts no other part of the system uses.
const FIRST_OWNERS = [14, 15, 16];
const SECOND_OWNERS = [17, 18, 19];

let system: System;
let contracts: SafeContracts;
let first: SafeDeployment;
let second: SafeDeployment;

const provider = () => system.connection.provider as never;
const connect = (safe: SafeDeployment, account: number) =>
  connectGuardian({
    provider: provider(),
    privateKey: devPrivateKey(account),
    safe: safe.address,
    chainId: safe.chainId,
    contracts,
  });

async function engageThrough(safe: SafeDeployment, owners: number[], reason: string) {
  const call = engageKillSwitchCall(system.deployment.contracts.policyRegistry, reason);
  let pending: PendingGuardianTransaction = await proposeGuardianTransaction({
    kit: await connect(safe, owners[0]!),
    chainId: safe.chainId,
    ...call,
  });
  pending = await signGuardianTransaction(await connect(safe, owners[1]!), pending);
  // Anyone executes: here the outsider, who owns nothing.
  return executeGuardianTransaction(await connect(safe, 9), system.publicClient, pending);
}

async function replaceGuardian(next: Address) {
  await system.pass([
    registryAction(system, "setGuardian", [next]),
    {
      target: system.deployment.contracts.governor,
      abi: policyGovernorAbi,
      functionName: "setProposalGuardian",
      args: [next],
    },
  ]);
}

const killSwitch = () =>
  system.publicClient.readContract({
    address: system.deployment.contracts.policyRegistry,
    abi: policyRegistryAbi,
    functionName: "killSwitch",
  });

beforeAll(async () => {
  system = await createSystem();
  await system.delegateAll();
  const deployer = system.accounts.deployer;
  contracts = await deploySafeContracts({ publicClient: system.publicClient, walletClient: deployer });
  const make = (owners: number[], saltNonce: bigint) =>
    createSafe({
      provider: provider(),
      publicClient: system.publicClient,
      walletClient: deployer,
      owners: owners.map((i) => devAddress(i)),
      threshold: 2,
      saltNonce,
      contracts,
    });
  first = await make(FIRST_OWNERS, 1n);
  second = await make(SECOND_OWNERS, 2n);
});

describe("the guardian Safe", () => {
  test("the DAO makes a Safe the guardian; two of its three owners engage the kill switch; only a vote lifts it", async () => {
    await replaceGuardian(first.address);
    expect(
      await system.publicClient.readContract({
        address: system.deployment.contracts.governor,
        abi: policyGovernorAbi,
        functionName: "proposalGuardian",
      }),
    ).toBe(first.address);

    const executed = await engageThrough(first, FIRST_OWNERS, "Poisoned data found");
    expect(executed.executed?.transactionHash).toMatch(/^0x/);
    expect(executed.signatures.map((s) => s.signer)).toEqual(FIRST_OWNERS.slice(0, 2).map((i) => devAddress(i)));
    const state = await killSwitch();
    expect(state).toMatchObject({ engaged: true, engagedBy: first.address, reason: "Poisoned data found" });

    await system.pass([registryAction(system, "liftKillSwitch", [state.engagementId])]);
    expect((await killSwitch()).engaged).toBe(false);
  });

  test("one owner alone cannot execute, and a signature cannot be added twice", async () => {
    const call = engageKillSwitchCall(system.deployment.contracts.policyRegistry, "One owner's opinion");
    const pending = await proposeGuardianTransaction({
      kit: await connect(first, FIRST_OWNERS[0]!),
      chainId: first.chainId,
      ...call,
    });
    await expect(executeGuardianTransaction(await connect(first, 9), system.publicClient, pending)).rejects.toThrow(
      "The transaction has 1 of the 2 owner signatures it needs.",
    );
    await expect(signGuardianTransaction(await connect(first, FIRST_OWNERS[0]!), pending)).rejects.toThrow(
      "has already signed this transaction",
    );
    await expect(signGuardianTransaction(await connect(first, 9), pending)).rejects.toThrow(
      "is not an owner of the guardian Safe",
    );
    // An altered file is caught before anyone signs it.
    const altered = {
      ...pending,
      transaction: {
        ...pending.transaction,
        data: encodeFunctionData({ abi: policyRegistryAbi, functionName: "liftKillSwitch", args: [1n] }),
      },
    };
    await expect(signGuardianTransaction(await connect(first, FIRST_OWNERS[1]!), altered)).rejects.toThrow(
      "the file was altered",
    );
    expect((await killSwitch()).engaged).toBe(false);
  });

  test("the DAO replaces the guardian: the old Safe can no longer engage, the new one can", async () => {
    await replaceGuardian(second.address);
    await expect(engageThrough(first, FIRST_OWNERS, "The old guardian tries")).rejects.toThrow(
      `The Safe transaction would fail: the call it makes reverted with PolicyNotGuardian(${first.address}, ${second.address}).`,
    );
    expect((await killSwitch()).engaged).toBe(false);

    await engageThrough(second, SECOND_OWNERS, "The new guardian acts");
    expect(await killSwitch()).toMatchObject({ engaged: true, engagedBy: second.address });
  });

  // Issue 19: the guardian engaged the switch and cancelled, again and again, the passed and
  // queued vote that replaced it and lifted the switch; the DAO was frozen for ever.
  test("the guardian Safe cannot cancel the queued vote that replaces it and lifts the switch", async () => {
    const { engagementId } = await killSwitch();
    const gov = createGovernance(system);
    const proposal = await gov.propose([
      registryAction(system, "setGuardian", [first.address]),
      {
        target: system.deployment.contracts.governor,
        abi: policyGovernorAbi,
        functionName: "setProposalGuardian",
        args: [first.address],
      },
      registryAction(system, "liftKillSwitch", [engagementId]),
    ]);
    await gov.openVoting(proposal);
    for (const holder of system.accounts.holders) await gov.vote(proposal, holder);
    await gov.closeVoting(proposal);
    await gov.queue(proposal);

    let pending: PendingGuardianTransaction = await proposeGuardianTransaction({
      kit: await connect(second, SECOND_OWNERS[0]!),
      chainId: second.chainId,
      to: system.deployment.contracts.governor,
      data: encodeFunctionData({ abi: policyGovernorAbi, functionName: "cancel", args: [proposal.proposalId] }),
      description: "Cancel the vote that replaces us",
    });
    pending = await signGuardianTransaction(await connect(second, SECOND_OWNERS[1]!), pending);
    await expect(executeGuardianTransaction(await connect(second, 9), system.publicClient, pending)).rejects.toThrow(
      `The Safe transaction would fail: the call it makes reverted with GovernorUnableToCancel(${proposal.proposalId}, ${second.address}).`,
    );
    expect(await gov.state(proposal)).toBe(ProposalState.Queued);

    await gov.waitForTimelock();
    await system.wait(await gov.execute(proposal));
    expect(await killSwitch()).toMatchObject({ engaged: false, engagementId: 0n });
    expect(
      await system.publicClient.readContract({
        address: system.deployment.contracts.governor,
        abi: policyGovernorAbi,
        functionName: "proposalGuardian",
      }),
    ).toBe(first.address);
  });
});
