import { BaseError } from "@dao-ai/pipeline-worker/errors";
import {
  encodeDeployData,
  encodePacked,
  keccak256,
  parseEther,
  zeroAddress,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { readArtifact, type ContractName } from "./contractArtifacts.ts";
import { governanceTokenAbi, schemaRegistryAbi, timelockControllerAbi } from "../../../deployments/abis.ts";
import type { DeploymentManifest } from "@dao-ai/pipeline-worker/deployment";

/**
 * The EAS schema every training-data attestation uses. Its first two fields must stay
 * `bytes32 dataHash` and `uint64 size`: ContributorRewards reads them from the first two words.
 */
export const DATA_SCHEMA = "bytes32 dataHash,uint64 size,string license,string provenance";

/** EAS computes a schema's UID from its definition, resolver and revocability. */
export function schemaUID(schema: string, resolver: Address = zeroAddress, revocable = true): Hex {
  return keccak256(encodePacked(["string", "address", "bool"], [schema, resolver, revocable]));
}

/**
 * The governance token's EIP-6372 CLOCK_MODE (block numbers or timestamps), which the Governor's
 * delay, period and late-quorum extension count in. Read before anything is deployed, by a
 * deployless call of the token's creation code, so that deploy checks the timings in the right
 * unit without spending gas.
 */
export async function governanceTokenClockMode(publicClient: PublicClient): Promise<string> {
  const { abi, bytecode } = readArtifact("GovernanceToken");
  return publicClient.readContract({
    abi: governanceTokenAbi,
    code: encodeDeployData({
      abi,
      bytecode,
      args: ["clock", "CLOCK", "0x000000000000000000000000000000000000dEaD", 1n],
    }),
    functionName: "CLOCK_MODE",
  });
}

export type GovernorSettings = {
  /** Blocks from proposing to the snapshot and the vote opening. */
  votingDelay: number;
  /** Blocks the vote stays open. */
  votingPeriod: number;
  proposalThreshold: bigint;
  /** Percentage of the supply at the snapshot. */
  quorumNumerator: bigint;
  /** Blocks a vote is extended by when quorum is reached late. */
  lateQuorumExtension: number;
};

export type DeploySystemParameters = {
  publicClient: PublicClient;
  walletClient: WalletClient<Transport, Chain, Account>;
  /** Who may engage the kill switch and cancel proposals: the guardian Safe in production. */
  guardian: Address;
  /** Token holders at genesis; what is not allocated goes to the timelock (the treasury). */
  allocations?: { to: Address; amount: bigint }[];
  tokenSupply?: bigint;
  governor?: Partial<GovernorSettings>;
  /** Seconds between queueing and executing a proposal. */
  timelockMinDelay?: bigint;
  /** Seconds in a quota and reward epoch. */
  epochLength?: bigint;
  /** Seconds between committing a model and being allowed to reveal it. */
  revealDelay?: bigint;
  /** Reuse a chain's existing EAS instead of deploying one. */
  existingEas?: { eas: Address; schemaRegistry: Address };
  onProgress?: (message: string) => void;
};

/** What the deploy writes to `deployments/<chainId>.json`: the manifest's one schema is the worker package's. */
export type Deployment = DeploymentManifest;

export const DEFAULT_GOVERNOR_SETTINGS: GovernorSettings = {
  votingDelay: 1,
  votingPeriod: 50,
  proposalThreshold: parseEther("1"),
  quorumNumerator: 4n,
  lateQuorumExtension: 10,
};

/**
 * Deploys the whole on-chain system and wires it: EAS (unless the chain has one) with the data
 * schema, the token, the timelock, the Governor, the policy registry, rewards, model commitments,
 * run rewards and usage settlement. The Governor becomes the timelock's only proposer and canceller,
 * anyone may execute, and the deployer renounces the timelock's admin role, so from the end of
 * this function on, only proposals change anything. The one module used by the deploy script,
 * the tests and the demo.
 */
export async function deploySystem(params: DeploySystemParameters): Promise<Deployment> {
  const { publicClient, walletClient } = params;
  const progress = params.onProgress ?? (() => {});
  const deployer = walletClient.account.address;
  const governor = { ...DEFAULT_GOVERNOR_SETTINGS, ...params.governor };
  const supply = params.tokenSupply ?? parseEther("1000000");
  const timelockMinDelay = params.timelockMinDelay ?? 60n;
  const epochLength = params.epochLength ?? 86_400n;
  const revealDelay = params.revealDelay ?? 7n * 86_400n;
  const chainId = await publicClient.getChainId();
  const startBlock = await publicClient.getBlockNumber();

  async function deploy(name: ContractName, args: readonly unknown[]): Promise<Address> {
    progress(`deploying ${name}`);
    const { abi, bytecode } = readArtifact(name);
    const hash = await walletClient.deployContract({ abi, bytecode, args });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success" || !receipt.contractAddress) {
      throw new BaseError(`Deploying ${name} failed in transaction ${hash}.`);
    }
    return receipt.contractAddress;
  }

  async function send(description: string, transaction: () => Promise<Hex>) {
    progress(description);
    const hash = await transaction();
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") throw new BaseError(`${description} failed in transaction ${hash}.`);
  }

  let schemaRegistry: Address;
  let eas: Address;
  if (params.existingEas) {
    ({ schemaRegistry, eas } = params.existingEas);
  } else {
    schemaRegistry = await deploy("SchemaRegistry", []);
    eas = await deploy("EAS", [schemaRegistry]);
  }
  const dataSchemaUID = schemaUID(DATA_SCHEMA);
  const existingSchema = await publicClient.readContract({
    address: schemaRegistry,
    abi: schemaRegistryAbi,
    functionName: "getSchema",
    args: [dataSchemaUID],
  });
  if (existingSchema.uid !== dataSchemaUID) {
    await send("registering the data schema on EAS", () =>
      walletClient.writeContract({
        address: schemaRegistry,
        abi: schemaRegistryAbi,
        functionName: "register",
        args: [DATA_SCHEMA, zeroAddress, true],
      }),
    );
  }

  const token = await deploy("GovernanceToken", ["DAO AI Governance", "DAIG", deployer, supply]);
  // No proposer yet: the Governor's address is known only once it is deployed. Executor zero: anyone.
  const timelock = await deploy("TimelockController", [timelockMinDelay, [], [zeroAddress], deployer]);
  const policyRegistry = await deploy("PolicyRegistry", [timelock, params.guardian, epochLength, revealDelay]);
  // After the registry: the Governor keeps its address to tell the guardian-role calls (replacing
  // the guardian, lifting the kill switch) that its proposal guardian may not cancel.
  const governorAddress = await deploy("PolicyGovernor", [
    token,
    timelock,
    {
      votingDelay: governor.votingDelay,
      votingPeriod: governor.votingPeriod,
      proposalThreshold: governor.proposalThreshold,
      quorumNumerator: governor.quorumNumerator,
      lateQuorumExtension: governor.lateQuorumExtension,
      proposalGuardian: params.guardian,
      policyRegistry,
    },
  ]);
  const contributorRewards = await deploy("ContributorRewards", [policyRegistry, eas]);
  const modelCommitments = await deploy("ModelCommitments", [policyRegistry]);
  const runRewards = await deploy("RunRewards", [policyRegistry, contributorRewards, modelCommitments]);
  const usageSettlement = await deploy("UsageSettlement", [
    policyRegistry,
    contributorRewards,
    modelCommitments,
    runRewards,
  ]);

  const role = (name: "PROPOSER_ROLE" | "CANCELLER_ROLE" | "DEFAULT_ADMIN_ROLE") =>
    publicClient.readContract({ address: timelock, abi: timelockControllerAbi, functionName: name });
  const [proposerRole, cancellerRole, adminRole] = await Promise.all([
    role("PROPOSER_ROLE"),
    role("CANCELLER_ROLE"),
    role("DEFAULT_ADMIN_ROLE"),
  ]);
  for (const [label, r] of [
    ["proposer", proposerRole],
    ["canceller", cancellerRole],
  ] as const) {
    await send(`making the Governor the timelock's ${label}`, () =>
      walletClient.writeContract({
        address: timelock,
        abi: timelockControllerAbi,
        functionName: "grantRole",
        args: [r, governorAddress],
      }),
    );
  }

  const allocated = (params.allocations ?? []).reduce((sum, a) => sum + a.amount, 0n);
  if (allocated > supply) throw new BaseError(`Allocations (${allocated}) exceed the token supply (${supply}).`);
  for (const { to, amount } of params.allocations ?? []) {
    await send(`allocating ${amount} token units to ${to}`, () =>
      walletClient.writeContract({
        address: token,
        abi: governanceTokenAbi,
        functionName: "transfer",
        args: [to, amount],
      }),
    );
  }
  if (supply > allocated) {
    await send("sending the rest of the supply to the treasury (timelock)", () =>
      walletClient.writeContract({
        address: token,
        abi: governanceTokenAbi,
        functionName: "transfer",
        args: [timelock, supply - allocated],
      }),
    );
  }

  await send("renouncing the deployer's timelock admin role", () =>
    walletClient.writeContract({
      address: timelock,
      abi: timelockControllerAbi,
      functionName: "renounceRole",
      args: [adminRole, deployer],
    }),
  );

  return {
    chainId,
    deploymentBlock: (startBlock + 1n).toString(),
    deployer,
    contracts: {
      schemaRegistry,
      eas,
      token,
      timelock,
      governor: governorAddress,
      policyRegistry,
      contributorRewards,
      usageSettlement,
      modelCommitments,
      runRewards,
    },
    dataSchema: { uid: dataSchemaUID, definition: DATA_SCHEMA },
    guardian: params.guardian,
    settings: {
      votingDelay: governor.votingDelay,
      votingPeriod: governor.votingPeriod,
      proposalThreshold: governor.proposalThreshold.toString(),
      quorumNumerator: governor.quorumNumerator.toString(),
      lateQuorumExtension: governor.lateQuorumExtension,
      timelockMinDelay: timelockMinDelay.toString(),
      epochLength: epochLength.toString(),
      revealDelay: revealDelay.toString(),
    },
  };
}
