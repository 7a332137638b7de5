import { parseEventLogs, type TransactionReceipt } from "viem";
import { policyRegistryAbi } from "../../deployments/abis.ts";
import {
  createGovernanceDriver,
  PROPOSAL_STATES,
  type Proposal,
  type ProposalStateName,
} from "../../scripts/lib/actors/createGovernanceDriver.ts";
import type { ProposalAction, System, Wallet } from "./system.ts";

export type { Proposal };

/** The Governor's ProposalState enum values by name, as its reverts carry them. */
export const ProposalState = Object.fromEntries(PROPOSAL_STATES.map((name, i) => [name, i])) as Record<
  ProposalStateName,
  number
>;

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
 * The scripts' governance driver as the tests use it: holder A proposes and queues, the outsider
 * executes and relays signed ballots, and the chain's clock and blocks move at once. `pass` takes
 * actions through a whole cycle, two holders voting directly and the third by signature, and
 * returns the execution receipt so tests can read the events.
 */
export function createGovernance(system: System) {
  const { publicClient, testClient, accounts, deployment } = system;
  const driver = createGovernanceDriver({
    publicClient,
    testClient,
    deployment,
    proposer: accounts.holders[0],
    executor: accounts.outsider,
  });

  async function pass(
    actions: ProposalAction[],
    description = `proposal ${++descriptions}`,
  ): Promise<{ proposal: Proposal; receipt: TransactionReceipt }> {
    const [a, b, c] = accounts.holders;
    const { proposal, receipt } = await driver.pass(actions, description, [
      { voter: a, support: 1 },
      { voter: b, support: 1 },
      { voter: c, support: 1, bySignature: true },
    ]);
    if (!receipt) throw new Error(`"${description}" was executed before: give each test proposal its own description.`);
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
    ...driver,
    propose: (actions: ProposalAction[], description = `proposal ${++descriptions}`, from?: Wallet) =>
      driver.propose(actions, description, from),
    pass,
    registryEvents,
  };
}

export type Governance = ReturnType<typeof createGovernance>;
