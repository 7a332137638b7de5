import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { getAddress, pad, parseEther, parseEventLogs, toHex, zeroHash, type Address, type Hex } from "viem";
import {
  contributorRewardsAbi,
  governanceTokenAbi,
  policyGovernorAbi,
  policyRegistryAbi,
  timelockControllerAbi,
} from "../../deployments/abis.ts";
import {
  createGovernance,
  ProposalState,
  registryAction,
  type Governance,
  type Proposal,
} from "../helpers/governance.ts";
import { expectRevert } from "../helpers/revert.ts";
import { createSnapshots } from "../helpers/snapshots.ts";
import { createSystem, HOLDER_BALANCES, type System, type Wallet } from "../helpers/system.ts";

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

const address = (w: Wallet): Address => getAddress(w.account.address);

function readGovernor<T>(functionName: string, args: readonly unknown[] = []): Promise<T> {
  return system.publicClient.readContract({
    address: system.deployment.contracts.governor,
    abi: policyGovernorAbi,
    functionName,
    args,
  } as never) as Promise<T>;
}

const quotaOf = (consumer: Address) =>
  system.publicClient.readContract({
    address: system.deployment.contracts.policyRegistry,
    abi: policyRegistryAbi,
    functionName: "quotaOf",
    args: [consumer],
  });

/** A proposal that sets the consumer's quota to 42: easy to see whether it took effect. */
const setQuota = () => [registryAction(system, "setQuota", [address(system.accounts.consumer), 42n])];

/** The Governor's expectedStates bitmap for the given states. */
const stateBitmap = (...states: number[]): Hex => pad(toHex(states.reduce((bits, s) => bits | (1 << s), 0)));

/** The TimelockController operation a queued proposal became (GovernorTimelockControl's salt). */
function timelockOperationId(proposal: Proposal) {
  const salt = pad(toHex((BigInt(system.deployment.contracts.governor) << 96n) ^ BigInt(proposal.descriptionHash)));
  return system.publicClient.readContract({
    address: system.deployment.contracts.timelock,
    abi: timelockControllerAbi,
    functionName: "hashOperationBatch",
    args: [proposal.targets, proposal.values, proposal.calldatas, zeroHash, salt],
  });
}

async function proposeAndQueue(actions = setQuota()) {
  const proposal = await gov.propose(actions);
  await gov.openVoting(proposal);
  for (const holder of system.accounts.holders) await gov.vote(proposal, { voter: holder, support: 1 });
  await gov.closeVoting(proposal);
  await gov.queue(proposal);
  return proposal;
}

describe("PolicyGovernor lifecycle", () => {
  it("gives voting power only to delegated tokens, and a proposal needs the threshold", async () => {
    const { holders, outsider } = system.accounts;
    expect(
      await readGovernor("getVotes", [address(holders[0]), (await system.publicClient.getBlockNumber()) - 1n]),
    ).toBe(HOLDER_BALANCES[0]);
    // An outsider given tokens has no votes until it delegates.
    await system.wait(
      await holders[2].writeContract({
        address: system.deployment.contracts.token,
        abi: governanceTokenAbi,
        functionName: "transfer",
        args: [address(outsider), parseEther("10")],
      }),
    );
    const votesOf = (who: Address) =>
      system.publicClient.readContract({
        address: system.deployment.contracts.token,
        abi: governanceTokenAbi,
        functionName: "getVotes",
        args: [who],
      });
    expect(await votesOf(address(outsider))).toBe(0n);
    await expectRevert(
      outsider.writeContract({
        address: system.deployment.contracts.governor,
        abi: policyGovernorAbi,
        functionName: "propose",
        args: [[system.deployment.contracts.policyRegistry], [0n], ["0x"], "no votes"],
      }),
      "GovernorInsufficientProposerVotes",
      [address(outsider), 0n, parseEther("1")],
    );
    await system.wait(
      await outsider.writeContract({
        address: system.deployment.contracts.token,
        abi: governanceTokenAbi,
        functionName: "delegate",
        args: [address(outsider)],
      }),
    );
    expect(await votesOf(address(outsider))).toBe(parseEther("10"));
    await system.testClient.mine({ blocks: 1 });
    const proposal = await gov.propose(setQuota(), "outsider proposes", outsider);
    expect(await gov.state(proposal)).toBe("Pending");
  });

  it("goes Pending, Active, Succeeded, Queued, Executed, counting a vote cast by signature", async () => {
    const { holders, outsider } = system.accounts;
    const proposal = await gov.propose(setQuota());
    expect(await gov.state(proposal)).toBe("Pending");
    await gov.openVoting(proposal);
    expect(await gov.state(proposal)).toBe("Active");

    await gov.vote(proposal, { voter: holders[0], support: 1 });
    await gov.vote(proposal, { voter: holders[1], support: 0 });
    // Holder 2 signs its ballot in TypeScript; the outsider relays it and pays the gas.
    const receipt = await gov.vote(proposal, { voter: holders[2], support: 1, bySignature: true });
    expect(receipt.from).toBe(outsider.account.address.toLowerCase());
    const [voteCast] = parseEventLogs({ abi: policyGovernorAbi, eventName: "VoteCast", logs: receipt.logs });
    expect(voteCast?.args).toMatchObject({
      voter: address(holders[2]),
      proposalId: proposal.proposalId,
      support: 1,
      weight: HOLDER_BALANCES[2],
    });
    expect(await readGovernor("hasVoted", [proposal.proposalId, address(holders[2])])).toBe(true);
    expect(await readGovernor("proposalVotes", [proposal.proposalId])).toEqual([
      HOLDER_BALANCES[1],
      HOLDER_BALANCES[0] + HOLDER_BALANCES[2],
      0n,
    ]);

    await gov.closeVoting(proposal);
    expect(await gov.state(proposal)).toBe("Succeeded");
    await gov.queue(proposal);
    expect(await gov.state(proposal)).toBe("Queued");
    await gov.waitForTimelock(proposal);
    await gov.execute(proposal);
    expect(await gov.state(proposal)).toBe("Executed");
    expect(await quotaOf(address(system.accounts.consumer))).toBe(42n);
  });

  it("refuses a ballot signed by someone other than the voter, and a replayed one", async () => {
    const { holders, outsider } = system.accounts;
    const proposal = await gov.propose(setQuota());
    await gov.openVoting(proposal);
    const castBySig = (voter: Address, signature: Hex) =>
      outsider.writeContract({
        address: system.deployment.contracts.governor,
        abi: policyGovernorAbi,
        functionName: "castVoteBySig",
        args: [proposal.proposalId, 1, voter, signature],
      });

    // The outsider signs a ballot claiming to be holder 0.
    const nonce = await readGovernor<bigint>("nonces", [address(holders[0])]);
    const forged = await outsider.signTypedData({
      account: outsider.account,
      domain: {
        name: "PolicyGovernor",
        version: "1",
        chainId: system.deployment.chainId,
        verifyingContract: system.deployment.contracts.governor,
      },
      types: {
        Ballot: [
          { name: "proposalId", type: "uint256" },
          { name: "support", type: "uint8" },
          { name: "voter", type: "address" },
          { name: "nonce", type: "uint256" },
        ],
      },
      primaryType: "Ballot",
      message: { proposalId: proposal.proposalId, support: 1, voter: address(holders[0]), nonce },
    });
    await expectRevert(castBySig(address(holders[0]), forged), "GovernorInvalidSignature", [address(holders[0])]);
    expect(await readGovernor("hasVoted", [proposal.proposalId, address(holders[0])])).toBe(false);

    const genuine = await gov.signBallot(proposal, { voter: holders[1], support: 1 });
    await system.wait(await castBySig(address(holders[1]), genuine));
    // The nonce is spent, so the same signature no longer recovers to the voter.
    await expectRevert(castBySig(address(holders[1]), genuine), "GovernorInvalidSignature", [address(holders[1])]);
    expect(await readGovernor("proposalVotes", [proposal.proposalId])).toEqual([0n, HOLDER_BALANCES[1], 0n]);
  });

  it("spends the treasury's own ether when a proposal funds the reward pool", async () => {
    const { deployer } = system.accounts;
    const { timelock, contributorRewards } = system.deployment.contracts;
    await system.wait(await deployer.sendTransaction({ to: timelock, value: parseEther("5") }));
    const epoch = await system.publicClient.readContract({
      address: system.deployment.contracts.policyRegistry,
      abi: policyRegistryAbi,
      functionName: "currentEpoch",
    });
    const { receipt } = await gov.pass([
      {
        target: contributorRewards,
        value: parseEther("2"),
        abi: contributorRewardsAbi,
        functionName: "fund",
        args: [epoch],
      },
    ]);
    expect(receipt.from).toBe(system.accounts.outsider.account.address.toLowerCase());
    expect(await system.publicClient.getBalance({ address: timelock })).toBe(parseEther("3"));
    const [funded] = parseEventLogs({ abi: contributorRewardsAbi, eventName: "PoolFunded", logs: receipt.logs });
    expect(funded?.args).toEqual({ epoch, from: getAddress(timelock), amount: parseEther("2") });
    const read = (functionName: "epochTotals" | "totals", args: readonly unknown[]) =>
      system.publicClient.readContract({
        address: contributorRewards,
        abi: contributorRewardsAbi,
        functionName,
        args,
      } as never);
    expect(await read("epochTotals", [epoch])).toEqual([parseEther("2"), 0n, 0n]);
    expect(await read("totals", [])).toEqual([parseEther("2"), 0n]);
  });
});

describe("PolicyGovernor attacks", () => {
  it("gives no weight to tokens bought or borrowed after the snapshot", async () => {
    const { holders, outsider } = system.accounts;
    const proposal = await gov.propose(setQuota());
    await gov.openVoting(proposal);
    const snapshot = await readGovernor<bigint>("proposalSnapshot", [proposal.proposalId]);

    // Holder 0 lends its whole balance to the outsider after the snapshot; the outsider delegates
    // to itself and votes against. Its weight is what it held at the snapshot: nothing.
    await system.wait(
      await holders[0].writeContract({
        address: system.deployment.contracts.token,
        abi: governanceTokenAbi,
        functionName: "transfer",
        args: [address(outsider), HOLDER_BALANCES[0]],
      }),
    );
    await system.wait(
      await outsider.writeContract({
        address: system.deployment.contracts.token,
        abi: governanceTokenAbi,
        functionName: "delegate",
        args: [address(outsider)],
      }),
    );
    const receipt = await gov.vote(proposal, { voter: outsider, support: 0 });
    const [cast] = parseEventLogs({ abi: policyGovernorAbi, eventName: "VoteCast", logs: receipt.logs });
    expect(cast?.args).toMatchObject({ voter: address(outsider), weight: 0n });
    expect(await readGovernor("getVotes", [address(outsider), snapshot])).toBe(0n);

    // Holder 0 no longer holds a token, yet votes with its whole weight at the snapshot.
    const holderVote = await gov.vote(proposal, { voter: holders[0], support: 1 });
    const [holderCast] = parseEventLogs({ abi: policyGovernorAbi, eventName: "VoteCast", logs: holderVote.logs });
    expect(holderCast?.args).toMatchObject({ weight: HOLDER_BALANCES[0] });
    expect(await readGovernor("proposalVotes", [proposal.proposalId])).toEqual([0n, HOLDER_BALANCES[0], 0n]);

    await gov.closeVoting(proposal);
    expect(await gov.state(proposal)).toBe("Succeeded");
  });

  it("refuses to execute before the timelock delay, and nothing changes", async () => {
    const proposal = await proposeAndQueue();
    await expectRevert(gov.execute(proposal), "TimelockUnexpectedOperationState", [
      await timelockOperationId(proposal),
      stateBitmap(2), // Ready
    ]);
    expect(await gov.state(proposal)).toBe("Queued");
    expect(await quotaOf(address(system.accounts.consumer))).toBe(0n);
  });

  it("refuses to execute a succeeded proposal that was never queued", async () => {
    const proposal = await gov.propose(setQuota());
    await gov.openVoting(proposal);
    for (const holder of system.accounts.holders) await gov.vote(proposal, { voter: holder, support: 1 });
    await gov.closeVoting(proposal);
    await gov.waitForTimelock(proposal);
    // Through the timelock, a proposal must be queued (and wait out the delay) before it executes.
    await expectRevert(gov.execute(proposal), "GovernorUnexpectedProposalState", [
      proposal.proposalId,
      ProposalState.Succeeded,
      stateBitmap(ProposalState.Queued),
    ]);
    expect(await quotaOf(address(system.accounts.consumer))).toBe(0n);
  });

  it("refuses to execute twice", async () => {
    const proposal = await proposeAndQueue([registryAction(system, "setQueryFee", [7n])]);
    await gov.waitForTimelock(proposal);
    await gov.execute(proposal);
    const version = await system.publicClient.readContract({
      address: system.deployment.contracts.policyRegistry,
      abi: policyRegistryAbi,
      functionName: "policyVersion",
    });
    await expectRevert(gov.execute(proposal), "GovernorUnexpectedProposalState", [
      proposal.proposalId,
      ProposalState.Executed,
      stateBitmap(ProposalState.Queued),
    ]);
    expect(
      await system.publicClient.readContract({
        address: system.deployment.contracts.policyRegistry,
        abi: policyRegistryAbi,
        functionName: "policyVersion",
      }),
    ).toBe(version);
  });

  it("refuses to queue a defeated proposal", async () => {
    const proposal = await gov.propose(setQuota());
    await gov.openVoting(proposal);
    await gov.vote(proposal, { voter: system.accounts.holders[0], support: 0 });
    await gov.vote(proposal, { voter: system.accounts.holders[1], support: 1 });
    await gov.closeVoting(proposal);
    expect(await gov.state(proposal)).toBe("Defeated");
    await expectRevert(gov.queue(proposal), "GovernorUnexpectedProposalState", [
      proposal.proposalId,
      ProposalState.Defeated,
      stateBitmap(ProposalState.Succeeded),
    ]);
  });

  it("lets the proposal guardian cancel a queued proposal, which then cannot execute", async () => {
    const proposal = await proposeAndQueue();
    const operationId = await timelockOperationId(proposal);
    await gov.cancel(proposal, system.accounts.guardian);
    expect(await gov.state(proposal)).toBe("Canceled");
    // The timelock operation is gone too, so nobody can execute it there either.
    expect(
      await system.publicClient.readContract({
        address: system.deployment.contracts.timelock,
        abi: timelockControllerAbi,
        functionName: "getOperationState",
        args: [operationId],
      }),
    ).toBe(0);
    await gov.waitForTimelock(proposal);
    await expectRevert(gov.execute(proposal), "GovernorUnexpectedProposalState", [
      proposal.proposalId,
      ProposalState.Canceled,
      stateBitmap(ProposalState.Queued),
    ]);
    expect(await quotaOf(address(system.accounts.consumer))).toBe(0n);
  });

  it("lets the proposal guardian cancel an active proposal", async () => {
    const proposal = await gov.propose(setQuota());
    await gov.openVoting(proposal);
    await gov.cancel(proposal, system.accounts.guardian);
    expect(await gov.state(proposal)).toBe("Canceled");
    await expectRevert(
      gov.vote(proposal, { voter: system.accounts.holders[1], support: 1 }),
      "GovernorUnexpectedProposalState",
      [proposal.proposalId, ProposalState.Canceled, stateBitmap(ProposalState.Active)],
    );
  });

  it("refuses cancellation by anyone but the guardian once voting opened, the proposer included", async () => {
    const { holders, outsider, worker } = system.accounts;
    const proposal = await gov.propose(setQuota(), "cancel me", holders[0]);
    await gov.openVoting(proposal);
    for (const caller of [outsider, holders[1], worker, holders[0]]) {
      await expectRevert(gov.cancel(proposal, caller), "GovernorUnableToCancel", [
        proposal.proposalId,
        address(caller),
      ]);
    }
    expect(await gov.state(proposal)).toBe("Active");
  });
});
