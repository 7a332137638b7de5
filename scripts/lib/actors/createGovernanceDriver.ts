import {
  BaseError as ViemError,
  ContractFunctionRevertedError,
  encodeFunctionData,
  keccak256,
  toHex,
  type Abi,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type TestClient,
  type TransactionReceipt,
  type Transport,
  type WalletClient,
} from "viem";
import { policyGovernorAbi } from "../../../deployments/abis.ts";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import type { Deployment } from "../deploy/deploySystem.ts";

export type Wallet = WalletClient<Transport, Chain, Account>;

/** One call a proposal makes. */
export type ProposalAction = {
  target: Address;
  /** Wei the timelock sends along, out of the treasury. */
  value?: bigint;
  abi: Abi;
  functionName: string;
  args: readonly unknown[];
};

/** A proposal as the Governor identifies it. */
export type Proposal = {
  proposalId: bigint;
  targets: Address[];
  values: bigint[];
  calldatas: Hex[];
  description: string;
  descriptionHash: Hex;
};

/** The Governor's ProposalState enum, in order. */
export const PROPOSAL_STATES = [
  "Pending",
  "Active",
  "Canceled",
  "Defeated",
  "Succeeded",
  "Queued",
  "Expired",
  "Executed",
] as const;
export type ProposalStateName = (typeof PROPOSAL_STATES)[number];

/** OpenZeppelin's Governor signs ballots (`castVoteBySig`) with this EIP-712 type. */
export const BALLOT_TYPES = {
  Ballot: [
    { name: "proposalId", type: "uint256" },
    { name: "support", type: "uint8" },
    { name: "voter", type: "address" },
    { name: "nonce", type: "uint256" },
  ],
} as const;

/**
 * A ballot: 0 against, 1 for, 2 abstain, with the reason the voter gives. `bySignature`: the voter
 * only signs it (EIP-712) and the executor sends it, as a holder without gas would vote.
 */
export type Ballot = { voter: Wallet; support: number; reason?: string; bySignature?: boolean };

export type CreateGovernanceDriverParameters = {
  publicClient: PublicClient;
  deployment: Deployment;
  /**
   * Mines blocks and moves time on a development chain (Anvil, Hardhat), so a vote takes seconds.
   * Without it the driver waits for the chain's own blocks and clock.
   */
  testClient?: TestClient;
  /** Proposes and queues. Needs at least the proposal threshold in delegated votes. */
  proposer: Wallet;
  /** Executes; anyone may. */
  executor: Wallet;
  onProgress?: (message: string) => void;
};

/**
 * Drives proposals through the Governor: propose, vote (directly, with a reason, or by
 * signature), queue, wait out the timelock, execute, cancel. The one driver of the scripts
 * (seeding a stack, the demo, the benches) and the tests (`test/helpers/governance.ts` configures
 * it); each stage is its own call so tests can act between them, and each refusal is the
 * Governor's own revert. `pass` resumes a proposal from whatever state it is in, so a seed
 * interrupted half-way finishes on the next run instead of failing on a duplicate proposal.
 */
export function createGovernanceDriver(parameters: CreateGovernanceDriverParameters) {
  const { publicClient, testClient, deployment, proposer, executor } = parameters;
  const governor = deployment.contracts.governor;
  const progress = parameters.onProgress ?? (() => {});

  async function wait(hash: Hex, what: string): Promise<TransactionReceipt> {
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") throw new BaseError(`${what} failed in transaction ${hash}.`);
    return receipt;
  }

  function build(actions: ProposalAction[], description: string): Omit<Proposal, "proposalId"> {
    return {
      targets: actions.map((a) => a.target),
      values: actions.map((a) => a.value ?? 0n),
      calldatas: actions.map((a) =>
        encodeFunctionData({ abi: a.abi, functionName: a.functionName, args: a.args } as never),
      ),
      description,
      descriptionHash: keccak256(toHex(description)),
    };
  }

  async function identify(actions: ProposalAction[], description: string): Promise<Proposal> {
    const p = build(actions, description);
    const proposalId = await publicClient.readContract({
      address: governor,
      abi: policyGovernorAbi,
      functionName: "hashProposal",
      args: [p.targets, p.values, p.calldatas, p.descriptionHash],
    });
    return { proposalId, ...p };
  }

  /** The proposal's state, or undefined if nobody has proposed it. */
  async function state(proposal: Proposal): Promise<ProposalStateName | undefined> {
    try {
      const s = await publicClient.readContract({
        address: governor,
        abi: policyGovernorAbi,
        functionName: "state",
        args: [proposal.proposalId],
      });
      return PROPOSAL_STATES[s];
    } catch (error) {
      const reverted =
        error instanceof ViemError ? error.walk((e) => e instanceof ContractFunctionRevertedError) : undefined;
      if ((reverted as ContractFunctionRevertedError | undefined)?.data?.errorName === "GovernorNonexistentProposal")
        return undefined;
      throw error;
    }
  }

  async function propose(actions: ProposalAction[], description: string, from: Wallet = proposer): Promise<Proposal> {
    const proposal = await identify(actions, description);
    await wait(
      await from.writeContract({
        address: governor,
        abi: policyGovernorAbi,
        functionName: "propose",
        args: [proposal.targets, proposal.values, proposal.calldatas, description],
      }),
      "Proposing",
    );
    return proposal;
  }

  /** Waits (or, on a development chain, mines) until the chain is past `block`. */
  async function reachBlock(block: bigint) {
    for (;;) {
      const now = await publicClient.getBlockNumber({ cacheTime: 0 });
      if (now > block) return;
      if (testClient) await testClient.mine({ blocks: Number(block - now) + 1 });
      else await sleep(2_000);
    }
  }

  async function openVoting(proposal: Proposal) {
    const snapshot = await publicClient.readContract({
      address: governor,
      abi: policyGovernorAbi,
      functionName: "proposalSnapshot",
      args: [proposal.proposalId],
    });
    await reachBlock(snapshot);
  }

  /** Reads the deadline from the Governor, which extends it when quorum is reached late. */
  async function closeVoting(proposal: Proposal) {
    for (;;) {
      const deadline = await publicClient.readContract({
        address: governor,
        abi: policyGovernorAbi,
        functionName: "proposalDeadline",
        args: [proposal.proposalId],
      });
      await reachBlock(deadline);
      if ((await state(proposal)) !== "Active") return;
    }
  }

  /** Casts the ballot: with its reason if it gives one, relayed by the executor if signed. */
  async function vote(proposal: Proposal, ballot: Ballot): Promise<TransactionReceipt> {
    const { proposalId } = proposal;
    const { voter, support, reason } = ballot;
    if (ballot.bySignature) {
      const signature = await signBallot(proposal, ballot);
      return wait(
        await executor.writeContract({
          address: governor,
          abi: policyGovernorAbi,
          functionName: "castVoteBySig",
          args: [proposalId, support, voter.account.address, signature],
        }),
        "Voting by signature",
      );
    }
    const hash =
      reason === undefined
        ? await voter.writeContract({
            address: governor,
            abi: policyGovernorAbi,
            functionName: "castVote",
            args: [proposalId, support],
          })
        : await voter.writeContract({
            address: governor,
            abi: policyGovernorAbi,
            functionName: "castVoteWithReason",
            args: [proposalId, support, reason],
          });
    return wait(hash, "Voting");
  }

  /** The voter's EIP-712 signature of its ballot, which anyone may send (`castVoteBySig`). */
  async function signBallot(proposal: Proposal, ballot: Pick<Ballot, "voter" | "support">): Promise<Hex> {
    const { voter, support } = ballot;
    const nonce = await publicClient.readContract({
      address: governor,
      abi: policyGovernorAbi,
      functionName: "nonces",
      args: [voter.account.address],
    });
    return voter.signTypedData({
      account: voter.account,
      domain: { name: "PolicyGovernor", version: "1", chainId: deployment.chainId, verifyingContract: governor },
      types: BALLOT_TYPES,
      primaryType: "Ballot",
      message: { proposalId: proposal.proposalId, support, voter: voter.account.address, nonce },
    });
  }

  /** Sends one of the Governor's calls that name a proposal by its calls and description hash. */
  async function sendForProposal(
    functionName: "queue" | "execute" | "cancel",
    proposal: Proposal,
    from: Wallet,
    what: string,
    value = 0n,
  ): Promise<TransactionReceipt> {
    return wait(
      await from.writeContract({
        address: governor,
        abi: policyGovernorAbi,
        functionName,
        args: [proposal.targets, proposal.values, proposal.calldatas, proposal.descriptionHash],
        value,
      }),
      what,
    );
  }

  async function queue(proposal: Proposal, from: Wallet = proposer): Promise<TransactionReceipt> {
    return sendForProposal("queue", proposal, from, "Queueing");
  }

  /** Waits (or, on a development chain, moves time) until the queued proposal may execute. */
  async function waitForTimelock(proposal: Proposal) {
    const eta = await publicClient.readContract({
      address: governor,
      abi: policyGovernorAbi,
      functionName: "proposalEta",
      args: [proposal.proposalId],
    });
    for (;;) {
      const { timestamp } = await publicClient.getBlock();
      if (timestamp >= eta) return;
      if (testClient) {
        await testClient.increaseTime({ seconds: Number(eta - timestamp) });
        await testClient.mine({ blocks: 1 });
      } else {
        await sleep(Math.min(Number(eta - timestamp), 15) * 1000);
      }
    }
  }

  /**
   * Executes a queued proposal. By default nothing is sent along: the values of the proposal's
   * calls come out of the timelock's own balance (the treasury).
   */
  async function execute(
    proposal: Proposal,
    options: { from?: Wallet; value?: bigint } = {},
  ): Promise<TransactionReceipt> {
    return sendForProposal("execute", proposal, options.from ?? executor, "Executing the proposal", options.value);
  }

  /** Cancels a proposal as `from`: its proposer while pending, or the proposal guardian (the Governor says when). */
  async function cancel(proposal: Proposal, from: Wallet): Promise<TransactionReceipt> {
    return sendForProposal("cancel", proposal, from, "Cancelling the proposal");
  }

  /**
   * Takes a proposal from wherever it is to executed: proposes it if nobody has, casts the ballots
   * not yet cast, closes the vote, queues, waits out the timelock and executes. Fails, saying why,
   * if the proposal was defeated, cancelled or expired. `executeValue` is sent with the execution
   * (by default nothing: the calls' values come out of the treasury).
   */
  async function pass(
    actions: ProposalAction[],
    description: string,
    ballots: Ballot[],
    executeValue = 0n,
  ): Promise<{ proposal: Proposal; receipt: TransactionReceipt | undefined }> {
    let proposal = await identify(actions, description);
    let current = await state(proposal);
    let receipt: TransactionReceipt | undefined;
    for (;;) {
      switch (current) {
        case undefined:
          progress("proposing");
          proposal = await propose(actions, description);
          break;
        case "Pending":
          progress("waiting for the vote to open");
          await openVoting(proposal);
          break;
        case "Active":
          for (const ballot of ballots) {
            // A ballot cast before an interruption stays cast: only the others are sent.
            if (await hasVoted(proposal, ballot.voter)) continue;
            progress(`${ballot.voter.account.address} votes ${["against", "for", "abstain"][ballot.support]}`);
            await vote(proposal, ballot);
          }
          progress("closing the vote");
          await closeVoting(proposal);
          break;
        case "Succeeded":
          progress("queueing in the timelock");
          await queue(proposal);
          break;
        case "Queued":
          progress("waiting out the timelock delay");
          await waitForTimelock(proposal);
          progress("executing");
          receipt = await execute(proposal, { value: executeValue });
          break;
        case "Executed":
          return { proposal, receipt };
        default:
          throw new BaseError(`The proposal "${description}" is ${current}; it cannot pass any more.`, {
            hints: ["Propose it again with another description, with enough votes for it."],
          });
      }
      current = await state(proposal);
    }
  }

  function hasVoted(proposal: Proposal, voter: Wallet): Promise<boolean> {
    return publicClient.readContract({
      address: governor,
      abi: policyGovernorAbi,
      functionName: "hasVoted",
      args: [proposal.proposalId, voter.account.address],
    });
  }

  return {
    identify,
    state,
    propose,
    openVoting,
    vote,
    signBallot,
    closeVoting,
    queue,
    waitForTimelock,
    execute,
    cancel,
    pass,
  };
}

export type GovernanceDriver = ReturnType<typeof createGovernanceDriver>;

function sleep(ms: number) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
