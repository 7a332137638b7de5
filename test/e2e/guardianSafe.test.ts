// The guardian as a real Safe: the kill switch engaged through the Safe (one owner proposes, a
// second signs, anyone executes), the DAO replacing one guardian Safe with another by a vote the
// Safe cannot cancel, and one pending-transaction file crossing between the CLI's code path
// (scripts/lib/actors/guardianTransactions.ts, private keys) and the UI's (the shared Safe module through
// an EIP-1193 provider over a viem wallet client, as the browser calls it), with an owner that is
// itself a Safe signing through its own owners.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createSafeTransaction,
  parsePendingSafeTransaction,
  safeTransactionStatus,
  serialisePendingSafeTransaction,
  signSafeTransaction,
  type PendingSafeTransaction,
} from "@dao-ai/pipeline-worker/safe";
import { createWalletClient, custom, encodeFunctionData, parseEther, type Address } from "viem";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { governanceTokenAbi, policyGovernorAbi, policyRegistryAbi } from "../../deployments/abis.ts";
import { createSafeConnection } from "@dao-ai/governance-ui/safeConnection";
import {
  deploySafeContracts,
  createSafe,
  type SafeContracts,
  type SafeDeployment,
} from "../../scripts/lib/deploy/deploySafe.ts";
import { devAccount, devAddress, devPrivateKey } from "../../scripts/lib/stack/devAccounts.ts";
import {
  engageKillSwitchCall,
  executeGuardianTransaction,
  guardianConnection,
  proposeGuardianTransaction,
  readPendingTransaction,
  writePendingTransaction,
} from "../../scripts/lib/actors/guardianTransactions.ts";
import { createGovernance, registryAction } from "../helpers/governance.ts";
import { createSystem, type System } from "../helpers/system.ts";

// Owners of the two Safes: development accounts no other part of the system uses.
const FIRST_OWNERS = [14, 15, 16];
const SECOND_OWNERS = [17, 18, 19];

let system: System;
let contracts: SafeContracts;
let first: SafeDeployment;
let second: SafeDeployment;
let files: string;

const provider = () => system.connection.provider as never;
/** The CLI's way in: protocol-kit signs with the account's private key. */
const cli = (account: number) =>
  guardianConnection({ provider: provider(), privateKey: devPrivateKey(account), chainId: 31337, contracts });
/** The UI's way in: reads from the chain, signs and sends through a viem wallet client. */
const ui = (account: number) =>
  createSafeConnection({
    publicClient: system.publicClient,
    walletClient: createWalletClient({
      account: devAccount(account),
      chain: system.publicClient.chain!,
      transport: custom(system.connection.provider),
    }),
    chainId: 31337,
    safeContracts: contracts,
  });

async function engageThrough(safe: SafeDeployment, owners: number[], reason: string) {
  const call = engageKillSwitchCall(system.deployment.contracts.policyRegistry, reason);
  let pending = await proposeGuardianTransaction({ connection: cli(owners[0]!), safe: safe.address, ...call });
  pending = await signSafeTransaction(cli(owners[1]!), pending);
  // Anyone executes: here the outsider, who owns nothing.
  return executeGuardianTransaction(cli(9), pending);
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
  files = mkdtempSync(join(tmpdir(), "guardian-files-"));
});

afterAll(() => rmSync(files, { recursive: true, force: true }));

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
      connection: cli(FIRST_OWNERS[0]!),
      safe: first.address,
      ...call,
    });
    await expect(executeGuardianTransaction(cli(9), pending)).rejects.toThrow(
      "The transaction has 1 of the 2 owner signatures it needs.",
    );
    await expect(signSafeTransaction(cli(FIRST_OWNERS[0]!), pending)).rejects.toThrow(
      "has already signed this transaction",
    );
    await expect(signSafeTransaction(ui(9), pending)).rejects.toThrow(
      `${devAddress(9)} is not an owner of the Safe ${first.address}, nor of a Safe that owns it.`,
    );
    // An altered file is caught before anyone signs it.
    const altered = {
      ...pending,
      transaction: {
        ...pending.transaction,
        data: encodeFunctionData({ abi: policyRegistryAbi, functionName: "liftKillSwitch", args: [1n] }),
      },
    };
    await expect(signSafeTransaction(cli(FIRST_OWNERS[1]!), altered)).rejects.toThrow("the file was altered");
    // A signature moved to another owner's name is caught by the Safe's own check.
    const forged = {
      ...pending,
      signatures: [{ ...pending.signatures[0]!, signer: devAddress(FIRST_OWNERS[2]!) }],
    };
    await expect(executeGuardianTransaction(cli(FIRST_OWNERS[1]!), forged)).rejects.toThrow(
      `The signature said to be ${devAddress(FIRST_OWNERS[2]!)}'s is not valid for this transaction`,
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
    for (const holder of system.accounts.holders) await gov.vote(proposal, { voter: holder, support: 1 });
    await gov.closeVoting(proposal);
    await gov.queue(proposal);

    let pending = await proposeGuardianTransaction({
      connection: cli(SECOND_OWNERS[0]!),
      safe: second.address,
      to: system.deployment.contracts.governor,
      data: encodeFunctionData({ abi: policyGovernorAbi, functionName: "cancel", args: [proposal.proposalId] }),
      description: "Cancel the vote that replaces us",
    });
    pending = await signSafeTransaction(cli(SECOND_OWNERS[1]!), pending);
    await expect(executeGuardianTransaction(cli(9), pending)).rejects.toThrow(
      `The Safe transaction would fail: the call it makes reverted with GovernorUnableToCancel(${proposal.proposalId}, ${second.address}).`,
    );
    expect(await gov.state(proposal)).toBe("Queued");

    await gov.waitForTimelock(proposal);
    await gov.execute(proposal);
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

describe("one pending-transaction file, in the CLI and in the UI", () => {
  // After the tests above, `first` is the guardian again and the kill switch is off.
  const lift = async () => {
    const { engagementId } = await killSwitch();
    await system.pass([registryAction(system, "liftKillSwitch", [engagementId])]);
  };
  /** What a file on disk holds, read back as the other side reads it. */
  const crossing = (pending: PendingSafeTransaction) => {
    const file = writePendingTransaction(files, pending);
    return { file, text: readFileSync(file, "utf8") };
  };

  test("proposed in the CLI, signed in the UI, executed in the CLI", async () => {
    const call = engageKillSwitchCall(system.deployment.contracts.policyRegistry, "CLI proposes, UI signs");
    const proposed = await proposeGuardianTransaction({
      connection: cli(FIRST_OWNERS[0]!),
      safe: first.address,
      ...call,
    });
    const { file, text } = crossing(proposed);
    // The UI imports the file's text and adds the connected owner's signature.
    const imported = parsePendingSafeTransaction(text);
    expect(await safeTransactionStatus(ui(FIRST_OWNERS[1]!), imported)).toMatchObject({
      confirmations: 1,
      threshold: 2,
      ready: false,
    });
    const signed = await signSafeTransaction(ui(FIRST_OWNERS[1]!), imported);
    // The UI exports it; the CLI reads the file and executes.
    writeFileSync(file, serialisePendingSafeTransaction(signed));
    const executed = await executeGuardianTransaction(cli(9), readPendingTransaction(file));
    expect(executed.signatures.map((s) => s.signer)).toEqual([
      devAddress(FIRST_OWNERS[0]!),
      devAddress(FIRST_OWNERS[1]!),
    ]);
    expect(await killSwitch()).toMatchObject({
      engaged: true,
      engagedBy: first.address,
      reason: "CLI proposes, UI signs",
    });
    await lift();
  });

  test("proposed in the UI, signed in the CLI, executed in the UI", async () => {
    const call = engageKillSwitchCall(system.deployment.contracts.policyRegistry, "UI proposes, CLI signs");
    const created = await createSafeTransaction({
      connection: ui(FIRST_OWNERS[2]!),
      safe: first.address,
      calls: [{ to: call.to, data: call.data }],
      description: call.description,
    });
    const proposed = await signSafeTransaction(ui(FIRST_OWNERS[2]!), created);
    const { file } = crossing(proposed);
    const signed = await signSafeTransaction(cli(FIRST_OWNERS[0]!), readPendingTransaction(file));
    const { text } = crossing(signed);
    const executed = await executeGuardianTransaction(ui(9), parsePendingSafeTransaction(text));
    expect(executed.executed?.by).toBe(devAddress(9));
    expect(await killSwitch()).toMatchObject({ engaged: true, reason: "UI proposes, CLI signs" });
    await lift();
  });

  test("an owner that is a Safe signs through its own owners, one in the UI and one in the CLI; the Safe delegates its votes", async () => {
    // A 2-of-2 Safe of two accounts owns, with one more account, a 2-of-2 Safe holding tokens.
    const nested = await createSafe({
      provider: provider(),
      publicClient: system.publicClient,
      walletClient: system.accounts.deployer,
      owners: [devAddress(17), devAddress(18)],
      threshold: 2,
      saltNonce: 3n,
      contracts,
    });
    const holder = await createSafe({
      provider: provider(),
      publicClient: system.publicClient,
      walletClient: system.accounts.deployer,
      owners: [devAddress(14), nested.address],
      threshold: 2,
      saltNonce: 4n,
      contracts,
    });
    const token = system.deployment.contracts.token;
    await system.wait(
      await system.accounts.holders[2].writeContract({
        address: token,
        abi: governanceTokenAbi,
        functionName: "transfer",
        args: [holder.address, parseEther("1000")],
      }),
    );
    const delegateToItself = encodeFunctionData({
      abi: governanceTokenAbi,
      functionName: "delegate",
      args: [holder.address],
    });
    let pending = await proposeGuardianTransaction({
      connection: cli(14),
      safe: holder.address,
      to: token,
      data: delegateToItself,
      description: "The Safe delegates its votes to itself",
    });
    // The first owner of the owner Safe signs in the UI: not yet the owner Safe's signature.
    pending = parsePendingSafeTransaction(serialisePendingSafeTransaction(await signSafeTransaction(ui(17), pending)));
    expect(pending.ownerSafeSignatures).toHaveLength(1);
    const partway = await safeTransactionStatus(ui(18), pending);
    expect(partway).toMatchObject({ confirmations: 1, threshold: 2, ready: false });
    expect(partway.ownerSafesSigning).toEqual([{ ownerSafe: nested.address, signed: [devAddress(17)], threshold: 2 }]);
    await expect(signSafeTransaction(ui(17), pending)).rejects.toThrow(
      `${devAddress(17)} has already signed this transaction for the Safe ${nested.address}.`,
    );
    // The second signs in the CLI: the owner Safe's EIP-1271 signature is complete.
    pending = await signSafeTransaction(cli(18), pending);
    expect(pending.ownerSafeSignatures).toEqual([]);
    expect(pending.signatures.map((s) => [s.signer, s.contract])).toEqual([
      [devAddress(14), false],
      [nested.address, true],
    ]);
    expect(await safeTransactionStatus(cli(9), pending)).toMatchObject({ confirmations: 2, ready: true });
    await executeGuardianTransaction(cli(9), pending);
    const read = (functionName: "delegates" | "getVotes") =>
      system.publicClient.readContract({
        address: token,
        abi: governanceTokenAbi,
        functionName,
        args: [holder.address],
      });
    expect(await read("delegates")).toBe(holder.address);
    expect(await read("getVotes")).toBe(parseEther("1000"));
  });

  test("a file that is not a pending transaction is refused with what is wrong", () => {
    expect(() => parsePendingSafeTransaction("{ not json")).toThrow(
      "This is not a pending Safe transaction: it is not JSON.",
    );
    expect(() => parsePendingSafeTransaction({ format: "something/else" })).toThrow(
      'This is not a pending Safe transaction (format "something/else", expected dao-ai/safe-transaction/v1).',
    );
    const damaged = { format: "dao-ai/safe-transaction/v1", chainId: 31337, safe: "0x1234" };
    expect(() => parsePendingSafeTransaction(damaged)).toThrow("This pending Safe transaction is damaged.");
    expect(() => parsePendingSafeTransaction(damaged)).toThrow("safe: not an address.");
  });
});
