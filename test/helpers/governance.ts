import { encodeFunctionData, keccak256, parseEventLogs, toHex, type Hex, type TransactionReceipt } from "viem";
import { policyGovernorAbi, policyRegistryAbi } from "../../deployments/abis.ts";
import { BALLOT_TYPES, type Proposal } from "../../scripts/lib/actors/createGovernanceDriver.ts";
import type { ProposalAction, System, Wallet } from "./system.ts";

// The scripts' governance driver defines the proposal and ballot types for the demo and `npm start`.
export { BALLOT_TYPES };
export type { Proposal };

/** The Governor's ProposalState enum, in order. */
export const ProposalState = {
  Pending: 0,
  Active: 1,
  Canceled: 2,
  Defeated: 3,
  Succeeded: 4,
  Queued: 5,
  Expired: 6,
  Executed: 7,
} as const;

/** A registry call for a proposal. */
export function registryAction(system: System, functionName: string, args: readonly unknown[]): ProposalAction {
  return { target: system.deployment.contracts.policyRegistry, abi: policyRegistryAbi, functionName, args };
}

/**
 * The policy ingest tests start from: the worker authorised, the contributor allowed to submit,
 * and one attestation of the data schema required, from the attester, at most an hour old.
 */
export function ingestPolicyActions(system: System): ProposalAction[] {
  const { worker, contributor, attester } = system.accounts;
  return [
    registryAction(system, "setWorker", [worker.account.address, true]),
    registryAction(system, "setSubmitter", [contributor.account.address, true]),
    registryAction(system, "setAttestationRequirement", [
      system.deployment.dataSchema.uid,
      [attester.account.address],
      1,
      3600n,
    ]),
  ];
}

let descriptions = 0;

/**
 * Each stage of a proposal's life as its own step, so tests can act between them (vote by
 * signature, move tokens after the snapshot, execute early, cancel). `pass` runs them all, with one
 * holder voting by signature, and returns the execution receipt so tests can read the events.
 */
export function createGovernance(system: System) {
  const { publicClient, testClient, accounts, deployment, wait } = system;
  const governor = deployment.contracts.governor;

  async function propose(
    actions: ProposalAction[],
    description = `proposal ${++descriptions}`,
    proposer: Wallet = accounts.holders[0],
  ): Promise<Proposal> {
    const targets = actions.map((a) => a.target);
    const values = actions.map((a) => a.value ?? 0n);
    const calldatas = actions.map((a) =>
      encodeFunctionData({ abi: a.abi, functionName: a.functionName, args: a.args } as never),
    );
    const descriptionHash = keccak256(toHex(description));
    await wait(
      await proposer.writeContract({
        address: governor,
        abi: policyGovernorAbi,
        functionName: "propose",
        args: [targets, values, calldatas, description],
      }),
    );
    const proposalId = await publicClient.readContract({
      address: governor,
      abi: policyGovernorAbi,
      functionName: "hashProposal",
      args: [targets, values, calldatas, descriptionHash],
    });
    return { proposalId, targets, values, calldatas, description, descriptionHash };
  }

  function state(proposal: Proposal) {
    return publicClient.readContract({
      address: governor,
      abi: policyGovernorAbi,
      functionName: "state",
      args: [proposal.proposalId],
    });
  }

  /** Mines past the snapshot, so the vote is open. */
  async function openVoting(proposal: Proposal) {
    const snapshot = await publicClient.readContract({
      address: governor,
      abi: policyGovernorAbi,
      functionName: "proposalSnapshot",
      args: [proposal.proposalId],
    });
    const now = await publicClient.getBlockNumber();
    if (now <= snapshot) await testClient.mine({ blocks: Number(snapshot - now) + 1 });
  }

  /** Mines past the deadline (read from the Governor, which may have extended it for a late quorum). */
  async function closeVoting(proposal: Proposal) {
    const deadline = await publicClient.readContract({
      address: governor,
      abi: policyGovernorAbi,
      functionName: "proposalDeadline",
      args: [proposal.proposalId],
    });
    const now = await publicClient.getBlockNumber();
    if (now <= deadline) await testClient.mine({ blocks: Number(deadline - now) + 1 });
  }

  async function vote(proposal: Proposal, voter: Wallet, support = 1) {
    return wait(
      await voter.writeContract({
        address: governor,
        abi: policyGovernorAbi,
        functionName: "castVote",
        args: [proposal.proposalId, support],
      }),
    );
  }

  /** The voter signs a ballot (EIP-712, built here in TypeScript); someone else sends it. */
  async function signBallot(proposal: Proposal, voter: Wallet, support = 1): Promise<Hex> {
    const nonce = await publicClient.readContract({
      address: governor,
      abi: policyGovernorAbi,
      functionName: "nonces",
      args: [voter.account.address],
    });
    return voter.signTypedData({
      account: voter.account,
      domain: {
        name: "PolicyGovernor",
        version: "1",
        chainId: deployment.chainId,
        verifyingContract: governor,
      },
      types: BALLOT_TYPES,
      primaryType: "Ballot",
      message: { proposalId: proposal.proposalId, support, voter: voter.account.address, nonce },
    });
  }

  async function voteBySig(proposal: Proposal, voter: Wallet, support = 1, relayer: Wallet = accounts.outsider) {
    const signature = await signBallot(proposal, voter, support);
    return wait(
      await relayer.writeContract({
        address: governor,
        abi: policyGovernorAbi,
        functionName: "castVoteBySig",
        args: [proposal.proposalId, support, voter.account.address, signature],
      }),
    );
  }

  async function queue(proposal: Proposal, from: Wallet = accounts.holders[0]) {
    return wait(
      await from.writeContract({
        address: governor,
        abi: policyGovernorAbi,
        functionName: "queue",
        args: [proposal.targets, proposal.values, proposal.calldatas, proposal.descriptionHash],
      }),
    );
  }

  /** Lets the timelock delay pass. */
  async function waitForTimelock() {
    await testClient.increaseTime({ seconds: Number(deployment.settings.timelockMinDelay) + 1 });
    await testClient.mine({ blocks: 1 });
  }

  /**
   * Executes a queued proposal. By default nothing is sent along: the values of the proposal's
   * calls come out of the timelock's own balance (the treasury).
   */
  async function execute(proposal: Proposal, options: { from?: Wallet; value?: bigint } = {}) {
    const from = options.from ?? accounts.outsider;
    return from.writeContract({
      address: governor,
      abi: policyGovernorAbi,
      functionName: "execute",
      args: [proposal.targets, proposal.values, proposal.calldatas, proposal.descriptionHash],
      value: options.value ?? 0n,
    });
  }

  async function cancel(proposal: Proposal, from: Wallet) {
    return from.writeContract({
      address: governor,
      abi: policyGovernorAbi,
      functionName: "cancel",
      args: [proposal.targets, proposal.values, proposal.calldatas, proposal.descriptionHash],
    });
  }

  /** Propose, vote (two holders directly, the third by signature), queue, wait, execute. */
  async function pass(
    actions: ProposalAction[],
    description?: string,
  ): Promise<{ proposal: Proposal; receipt: TransactionReceipt }> {
    const proposal = await propose(actions, description);
    await openVoting(proposal);
    await vote(proposal, accounts.holders[0]);
    await vote(proposal, accounts.holders[1]);
    await voteBySig(proposal, accounts.holders[2]);
    await closeVoting(proposal);
    await queue(proposal);
    await waitForTimelock();
    const receipt = await wait(await execute(proposal));
    return { proposal, receipt };
  }

  /** The registry's events in a receipt (a proposal's execution, say). */
  function registryEvents(receipt: TransactionReceipt) {
    return parseEventLogs({
      abi: policyRegistryAbi,
      logs: receipt.logs.filter((l) => l.address.toLowerCase() === deployment.contracts.policyRegistry.toLowerCase()),
    });
  }

  return {
    propose,
    state,
    openVoting,
    closeVoting,
    vote,
    signBallot,
    voteBySig,
    queue,
    waitForTimelock,
    execute,
    cancel,
    pass,
    registryEvents,
  };
}

export type Governance = ReturnType<typeof createGovernance>;
