import {
  formatEther,
  getContract,
  isAddressEqual,
  parseEther,
  type Address,
  type Hex,
  type PublicClient,
  type TestClient,
} from "viem";
import { governanceTokenAbi, policyRegistryAbi } from "../../../deployments/abis.ts";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { createGovernanceDriver, type ProposalAction, type Wallet } from "./createGovernanceDriver.ts";
import type { Deployment } from "../deploy/deploySystem.ts";

export type SeedSystemParameters = {
  publicClient: PublicClient;
  testClient: TestClient;
  deployment: Deployment;
  /** The token holders: they delegate to themselves and vote the first policy in. */
  holders: readonly Wallet[];
  /** Funds the treasury and executes. */
  deployer: Wallet;
  contributor: Address;
  attester: Address;
  consumer: Address;
  worker: Address;
  committee: { members: Address[]; publicKeys: Hex[]; threshold: number };
  /** Queries per epoch for the consumer. */
  quota: bigint;
  /** Ether sent to the treasury (the timelock), for reward grants by proposal. */
  treasury?: bigint;
  onProgress?: (message: string) => void;
};

/**
 * The "starter" tier of a fresh deployment: enough queries to try the AI, for a token price, so a
 * new user gets access by paying (from the Consume page or `npm run consume -- join-tier 0`)
 * without waiting for a vote.
 */
export const STARTER_TIER = { queriesPerEpoch: 20n, pricePerEpoch: parseEther("0.001"), maxMembers: 0 };

/** The oldest an attestation may be for the first policy: 90 days. */
export const SEED_ATTESTATION_MAX_AGE = 90n * 86_400n;

/**
 * Brings a fresh deployment to a usable starting point, through governance like any later change:
 * the holders delegate their votes to themselves, the treasury gets some ether for reward grants,
 * and a first policy passes: the contributor allowlisted, an attestation requirement (the data
 * schema, the attester trusted, one attestation), the keyholder committee, the consumer's quota,
 * an open starter tier (STARTER_TIER) anyone may join by paying, and the worker authorised. Safe
 * to run again: what is already done is skipped, and an interrupted proposal resumes where it stopped.
 */
export async function seedSystem(parameters: SeedSystemParameters): Promise<{ proposed: boolean }> {
  const { publicClient, testClient, deployment, holders, deployer } = parameters;
  const progress = parameters.onProgress ?? (() => {});
  const { token, policyRegistry, timelock } = deployment.contracts;

  async function wait(hash: Hex, what: string) {
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") throw new BaseError(`${what} failed in transaction ${hash}.`);
  }

  for (const holder of holders) {
    const address = holder.account.address;
    const delegate = await publicClient.readContract({
      address: token,
      abi: governanceTokenAbi,
      functionName: "delegates",
      args: [address],
    });
    if (!isAddressEqual(delegate, address)) {
      progress(`${address} delegates its votes to itself`);
      await wait(
        await holder.writeContract({
          address: token,
          abi: governanceTokenAbi,
          functionName: "delegate",
          args: [address],
        }),
        "Delegating",
      );
    }
  }

  const treasury = parameters.treasury ?? parseEther("10");
  if (treasury > 0n && (await publicClient.getBalance({ address: timelock })) === 0n) {
    progress(`funding the treasury with ${treasury / 10n ** 18n} ETH`);
    await wait(await deployer.sendTransaction({ to: timelock, value: treasury }), "Funding the treasury");
  }

  const view = getContract({ address: policyRegistry, abi: policyRegistryAbi, client: publicClient }).read;
  const [isWorker, isSubmitter, committee, quota, tierCount] = await Promise.all([
    view.isWorker([parameters.worker]),
    view.isSubmitter([parameters.contributor]),
    view.committee(),
    view.quotaOf([parameters.consumer]),
    view.tierCount(),
  ]);
  if (isWorker && isSubmitter && committee[0] > 0n && quota > 0n && tierCount > 0) return { proposed: false };
  const starter = STARTER_TIER;

  const registry = (functionName: string, args: readonly unknown[]): ProposalAction => ({
    target: policyRegistry,
    abi: policyRegistryAbi,
    functionName,
    args,
  });
  const actions = [
    registry("setWorker", [parameters.worker, true]),
    registry("setSubmitter", [parameters.contributor, true]),
    registry("setAttestationRequirement", [
      deployment.dataSchema.uid,
      [parameters.attester],
      1,
      SEED_ATTESTATION_MAX_AGE,
    ]),
    registry("setCommittee", [
      parameters.committee.members,
      parameters.committee.publicKeys,
      parameters.committee.threshold,
    ]),
    registry("setQuota", [parameters.consumer, parameters.quota]),
    registry("setTier", [0, starter.queriesPerEpoch, starter.pricePerEpoch, true, starter.maxMembers]),
  ];
  const governance = createGovernanceDriver({
    publicClient,
    testClient,
    deployment,
    proposer: holders[0]!,
    executor: deployer,
    onProgress: progress,
  });
  // The description names the deployment, so the same seed on the same chain is the same proposal
  // (and resumes), while a new deployment gets its own. An attempt that can no longer pass (a vote
  // missed while the stack was down) is followed by a fresh one.
  const base = `# First policy\n\nAllow the first contributor, trust the first attester, set the keyholder committee (${parameters.committee.threshold} of ${parameters.committee.members.length}), give the first consumer ${parameters.quota} queries per epoch, open a starter tier (id 0: ${starter.queriesPerEpoch} queries per epoch for ${formatEther(starter.pricePerEpoch)} ETH an epoch) that anyone may join by paying, and authorise the worker.\n\nDeployment: ${policyRegistry}`;
  for (let attempt = 1; ; attempt++) {
    const description = attempt === 1 ? base : `${base} (attempt ${attempt})`;
    const state = await governance.state(await governance.identify(actions, description));
    if (state === "Defeated" || state === "Canceled" || state === "Expired") {
      progress(`an earlier attempt was ${state.toLowerCase()}; proposing again`);
      continue;
    }
    await governance.pass(
      actions,
      description,
      holders.map((voter) => ({ voter, support: 1 as const, reason: "A sensible starting point." })),
    );
    return { proposed: true };
  }
}
