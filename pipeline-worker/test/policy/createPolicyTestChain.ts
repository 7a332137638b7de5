// hardhat-viem's augmentation of network connections (`connection.viem`), which test/helpers/system.ts
// relies on; pipeline-worker's tsconfig does not load hardhat.config.ts, which would bring it in.
import type {} from "@nomicfoundation/hardhat-viem";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  createPublicClient,
  createWalletClient,
  custom,
  parseEther,
  type EIP1193RequestFn,
  type Hex,
  type Log,
  type PublicClient,
} from "viem";
import { policyRegistryAbi } from "../../../deployments/abis.ts";
import { createSystem, type Deployment } from "../../../test/helpers/system.ts";
import { createPolicySync, type CreatePolicySyncParameters } from "../../src/policy/createPolicySync.ts";
import type { PolicyDeployment } from "../../src/policy/readPolicyDeployment.ts";
import { readPolicyDeployment } from "../../src/policy/readPolicyDeployment.ts";

type RpcRequest = { method: string; params: unknown };
type RawLog = Pick<Log, "data" | "topics"> & { blockNumber: Hex };

/**
 * A client the test controls: it records every request, can be switched to failing as a dead
 * node does, and can drop logs from `eth_getLogs` answers as a node that is behind does.
 */
export function createControlledClient(request: EIP1193RequestFn) {
  const requests: RpcRequest[] = [];
  const control = {
    requests,
    down: false,
    /** Logs for which this returns true are left out of `eth_getLogs` answers. */
    dropLog: undefined as ((log: RawLog) => boolean) | undefined,
    /** The `[fromBlock, toBlock]` of every `eth_getLogs` request since `since`. */
    logRanges(since = 0): [bigint, bigint][] {
      return requests
        .slice(since)
        .filter((r) => r.method === "eth_getLogs")
        .map((r) => {
          const filter = (r.params as [{ fromBlock: Hex; toBlock: Hex }])[0];
          return [BigInt(filter.fromBlock), BigInt(filter.toBlock)];
        });
    },
  };
  const client = createPublicClient({
    transport: custom(
      {
        async request({ method, params }: RpcRequest) {
          requests.push({ method, params });
          if (control.down) throw new Error("connect ECONNREFUSED 127.0.0.1:8545");
          const result = await request({ method, params } as never);
          if (method === "eth_getLogs" && control.dropLog !== undefined) {
            return (result as RawLog[]).filter((log) => !control.dropLog!(log));
          }
          return result;
        },
      },
      { retryCount: 0 },
    ),
  }) as unknown as PublicClient;
  return { client, control };
}

/** A system on a fresh in-process chain, with what the policy sync tests need around it. */
export async function createPolicyTestChain() {
  const system = await createSystem();
  const provider = system.connection.provider;
  const registry = system.deployment.contracts.policyRegistry;
  const timelock = system.deployment.contracts.timelock;
  const directories: string[] = [];

  // Proposals are the real path and some tests take it; most act as the timelock directly, which
  // emits the very same events a thousand times faster.
  await system.testClient.impersonateAccount({ address: timelock });
  await system.testClient.setBalance({ address: timelock, value: parseEther("100") });
  const timelockWallet = createWalletClient({ account: timelock, transport: custom(provider) });

  /** Sends a registry call from the timelock and returns its hash without waiting for it. */
  async function sendAsTimelock(functionName: string, args: readonly unknown[] = []): Promise<Hex> {
    return timelockWallet.writeContract({
      address: registry,
      abi: policyRegistryAbi,
      functionName,
      args,
      chain: null,
    } as never);
  }

  /** Makes a registry change as the timelock, in a block of its own. */
  async function asTimelock(functionName: string, args: readonly unknown[] = []) {
    return system.wait(await sendAsTimelock(functionName, args));
  }

  async function engageAsGuardian(reason: string) {
    return system.wait(
      await system.accounts.guardian.writeContract({
        address: registry,
        abi: policyRegistryAbi,
        functionName: "engageKillSwitch",
        args: [reason],
      }),
    );
  }

  /** The kill switch engagement in force (0 if none): the id a lift must name. */
  async function engagementId(): Promise<bigint> {
    const killSwitch = await system.publicClient.readContract({
      address: registry,
      abi: policyRegistryAbi,
      functionName: "killSwitch",
    });
    return killSwitch.engagementId;
  }

  /** Mines a block whose contents differ from anything mined before, so that its hash does too. */
  async function mineDifferentBlock() {
    await system.wait(
      await system.accounts.outsider.sendTransaction({
        to: system.accounts.consumer.account.address,
        value: BigInt(Math.floor(Math.random() * 1e9)) + 1n,
      }),
    );
  }

  async function directory() {
    const dir = await mkdtemp(path.join(tmpdir(), "policy-sync-"));
    directories.push(dir);
    return dir;
  }

  /** A policy sync over a controlled client, with 0 confirmations and a fresh directory unless told otherwise. */
  async function createSync(overrides: Partial<Omit<CreatePolicySyncParameters, "client">> = {}) {
    const controlled = createControlledClient(provider.request.bind(provider) as EIP1193RequestFn);
    const sync = await createPolicySync({
      client: controlled.client,
      deployment: policyDeploymentOf(system.deployment),
      directory: overrides.directory ?? (await directory()),
      confirmations: 0,
      ...overrides,
    });
    return { sync, ...controlled };
  }

  async function cleanUp() {
    await Promise.all(directories.map((dir) => rm(dir, { recursive: true, force: true })));
  }

  return {
    ...system,
    registry,
    timelock,
    asTimelock,
    sendAsTimelock,
    engageAsGuardian,
    engagementId,
    mineDifferentBlock,
    directory,
    createSync,
    cleanUp,
  };
}

export function policyDeploymentOf(deployment: Deployment): PolicyDeployment {
  return readPolicyDeployment(JSON.parse(JSON.stringify(deployment)));
}

export type PolicyTestChain = Awaited<ReturnType<typeof createPolicyTestChain>>;
