import { parseEther, type Hex } from "viem";
import { governanceTokenAbi } from "../../../deployments/abis.ts";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { createGovernanceDriver, type Ballot, type ProposalAction } from "../actors/createGovernanceDriver.ts";
import { deploySystem, type DeploySystemParameters } from "../deploy/deploySystem.ts";
import { DEV_ROLES } from "../stack/devAccounts.ts";
import { startDevChain, type StartDevChainParameters } from "../stack/startDevChain.ts";

/** The holders' genesis allocations: together far above the 4% quorum, each alone above it too. */
export const BENCH_HOLDER_BALANCES = [parseEther("400000"), parseEther("250000"), parseEther("100000")] as const;

/** The account that plays the guardian (an EOA here; a Safe on the local stack). */
export const BENCH_GUARDIAN = 4;

/**
 * The whole system on a throwaway development chain for the benchmarks: deployed through the one deploy
 * module, the holders' votes delegated, and a governance driver that passes proposals with every
 * holder voting for. `stop` ends the chain.
 */
export async function createBenchSystem(
  parameters: StartDevChainParameters & { deploy?: Partial<DeploySystemParameters> } = {},
) {
  const chain = await startDevChain(parameters);
  try {
    const { publicClient, testClient, wallet } = chain;
    const holders = DEV_ROLES.holders.map((index) => wallet(index));
    const deployment = await deploySystem({
      publicClient,
      walletClient: wallet(DEV_ROLES.deployer),
      guardian: wallet(BENCH_GUARDIAN).account.address,
      allocations: holders.map((h, i) => ({ to: h.account.address, amount: BENCH_HOLDER_BALANCES[i]! })),
      epochLength: 3_600n,
      ...parameters.deploy,
    });

    async function wait(hash: Hex, what = "A transaction") {
      const receipt = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 5 });
      if (receipt.status !== "success") throw new BaseError(`${what} failed in transaction ${hash}.`);
      return receipt;
    }

    for (const holder of holders) {
      await wait(
        await holder.writeContract({
          address: deployment.contracts.token,
          abi: governanceTokenAbi,
          functionName: "delegate",
          args: [holder.account.address],
        }),
        "Delegating",
      );
    }
    await testClient.mine({ blocks: 1 });

    const driver = createGovernanceDriver({
      publicClient,
      testClient,
      deployment,
      proposer: holders[0]!,
      executor: wallet(DEV_ROLES.outsider),
    });
    let proposals = 0;
    const ballots: Ballot[] = holders.map((voter) => ({ voter, support: 1 }));

    /** Takes `actions` through the whole governance cycle, every holder voting for. */
    async function pass(actions: ProposalAction[], description = `bench proposal ${++proposals}`) {
      return driver.pass(actions, description, ballots);
    }

    return { ...chain, deployment, holders, driver, wait, pass };
  } catch (error) {
    await chain.stop();
    throw error;
  }
}

export type BenchSystem = Awaited<ReturnType<typeof createBenchSystem>>;
