// Brings in hardhat-viem's type augmentation of network connections for projects that do not load hardhat.config.ts.
import type {} from "@nomicfoundation/hardhat-viem";
import { network } from "hardhat";
import { parseEther, type Hex, type PublicClient, type TestClient } from "viem";
import { governanceTokenAbi } from "../../deployments/abis.ts";
import {
  createGovernanceDriver,
  type ProposalAction,
  type Wallet,
} from "../../scripts/lib/actors/createGovernanceDriver.ts";
import { deploySystem, type Deployment, type DeploySystemParameters } from "../../scripts/lib/deploy/deploySystem.ts";

// The scripts' governance driver defines these for the demo and `npm start`; tests share them.
export type { ProposalAction, Wallet };

/** Token allocations at genesis: three holders; together they clear the 4% quorum many times over. */
export const HOLDER_BALANCES = [parseEther("400000"), parseEther("250000"), parseEther("100000")] as const;

/**
 * A fresh in-process Hardhat chain with the whole system deployed through the one deploy module.
 * Named accounts play the system's parts; `pass` takes actions through a full governance cycle.
 */
export async function createSystem(overrides: Partial<DeploySystemParameters> = {}) {
  const connection = await network.create();
  const { viem } = connection;
  const publicClient = (await viem.getPublicClient()) as unknown as PublicClient;
  const testClient = (await viem.getTestClient()) as unknown as TestClient;
  const wallets = (await viem.getWalletClients()) as unknown as Wallet[];
  const at = (i: number): Wallet => {
    const w = wallets[i];
    if (!w) throw new Error(`No development account ${i}`);
    return w;
  };
  const accounts = {
    deployer: at(0),
    holders: [at(1), at(2), at(3)] as const,
    guardian: at(4),
    attester: at(5),
    contributor: at(6),
    consumer: at(7),
    worker: at(8),
    outsider: at(9),
    attester2: at(10),
    keyholders: [at(11), at(12), at(13)] as const,
  };
  const deployment = await deploySystem({
    publicClient,
    walletClient: accounts.deployer,
    guardian: accounts.guardian.account.address,
    allocations: accounts.holders.map((h, i) => ({ to: h.account.address, amount: HOLDER_BALANCES[i]! })),
    timelockMinDelay: 60n,
    epochLength: 3600n,
    revealDelay: 600n,
    ...overrides,
  });

  async function wait(hash: Hex) {
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") throw new Error(`transaction ${hash} reverted`);
    return receipt;
  }

  async function delegateAll() {
    for (const holder of accounts.holders) {
      await wait(
        await holder.writeContract({
          address: deployment.contracts.token,
          abi: governanceTokenAbi,
          functionName: "delegate",
          args: [holder.account.address],
        }),
      );
    }
    await testClient.mine({ blocks: 1 });
  }

  // The scripts' one governance driver; `test/helpers/governance.ts` configures the same driver for
  // the tests that act between the stages.
  const governance = createGovernanceDriver({
    publicClient,
    testClient,
    deployment,
    proposer: accounts.holders[0],
    executor: accounts.outsider,
  });

  /**
   * Proposes, votes (all holders for), queues and executes; returns the proposal id. The executor
   * sends the actions' values with the execution, so a grant needs no treasury balance.
   */
  async function pass(actions: ProposalAction[], description = `proposal ${Math.random()}`) {
    const ballots = accounts.holders.map((voter) => ({ voter, support: 1 }));
    const value = actions.reduce((sum, action) => sum + (action.value ?? 0n), 0n);
    const { proposal, receipt } = await governance.pass(actions, description, ballots, value);
    if (!receipt) throw new Error(`"${description}" was executed before: give each test proposal its own description.`);
    return proposal.proposalId;
  }

  return { connection, viem, publicClient, testClient, accounts, deployment, wait, delegateAll, pass };
}

export type System = Awaited<ReturnType<typeof createSystem>>;
export type { Deployment };
