import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { Eip1193Provider } from "@safe-global/protocol-kit";
import {
  getAddress,
  type Abi,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { ProtocolKit, safeContractNetworks, type SafeContracts } from "@dao-ai/pipeline-worker/safe";

/**
 * The Safe 1.4.1 contracts protocol-kit needs, with their artifacts in @safe-global/safe-contracts.
 * The keys are protocol-kit's `ContractNetworkConfig` field names without `Address`.
 */
const SAFE_ARTIFACTS = {
  safeSingleton: "contracts/Safe.sol/Safe.json",
  safeProxyFactory: "contracts/proxies/SafeProxyFactory.sol/SafeProxyFactory.json",
  multiSend: "contracts/libraries/MultiSend.sol/MultiSend.json",
  multiSendCallOnly: "contracts/libraries/MultiSendCallOnly.sol/MultiSendCallOnly.json",
  fallbackHandler: "contracts/handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json",
  signMessageLib: "contracts/libraries/SignMessageLib.sol/SignMessageLib.json",
  createCall: "contracts/libraries/CreateCall.sol/CreateCall.json",
  simulateTxAccessor: "contracts/accessors/SimulateTxAccessor.sol/SimulateTxAccessor.json",
} as const;

export const SAFE_VERSION = "1.4.1";

// Where a chain's Safe contracts are: declared once, with the pending-transaction format, in the
// shared Safe module.
export type { SafeContracts };

/** A Safe, with the contracts it was made from (undefined: the chain's canonical deployment). */
export type SafeDeployment = {
  address: Address;
  owners: Address[];
  threshold: number;
  chainId: number;
  contracts?: SafeContracts;
};

const require = createRequire(import.meta.url);

function readSafeArtifact(file: string): { abi: Abi; bytecode: Hex } {
  const path = require.resolve(`@safe-global/safe-contracts/build/artifacts/${file}`);
  return JSON.parse(readFileSync(path, "utf8")) as { abi: Abi; bytecode: Hex };
}

export type DeploySafeContractsParameters = {
  publicClient: PublicClient;
  walletClient: WalletClient<Transport, Chain, Account>;
  onProgress?: (message: string) => void;
};

/**
 * Deploys the Safe 1.4.1 contracts on a chain that has none (a local chain). Public chains and L2s
 * have the canonical deployments already, which protocol-kit finds by itself.
 */
export async function deploySafeContracts(parameters: DeploySafeContractsParameters): Promise<SafeContracts> {
  const { publicClient, walletClient } = parameters;
  const addresses: Partial<Record<keyof typeof SAFE_ARTIFACTS, Address>> = {};
  for (const [name, file] of Object.entries(SAFE_ARTIFACTS) as [keyof typeof SAFE_ARTIFACTS, string][]) {
    parameters.onProgress?.(`deploying Safe ${name}`);
    const { abi, bytecode } = readSafeArtifact(file);
    const hash = await walletClient.deployContract({ abi, bytecode });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success" || !receipt.contractAddress) {
      throw new BaseError(`Deploying the Safe ${name} contract failed in transaction ${hash}.`);
    }
    addresses[name] = receipt.contractAddress;
  }
  const a = addresses as Record<keyof typeof SAFE_ARTIFACTS, Address>;
  return {
    safeSingletonAddress: a.safeSingleton,
    safeProxyFactoryAddress: a.safeProxyFactory,
    multiSendAddress: a.multiSend,
    multiSendCallOnlyAddress: a.multiSendCallOnly,
    fallbackHandlerAddress: a.fallbackHandler,
    signMessageLibAddress: a.signMessageLib,
    createCallAddress: a.createCall,
    simulateTxAccessorAddress: a.simulateTxAccessor,
  };
}

export type CreateSafeParameters = {
  /** An RPC URL or an EIP-1193 provider (Hardhat's in-process chain in tests). */
  provider: string | Eip1193Provider;
  publicClient: PublicClient;
  /** Sends the deployment transaction; needs gas money, and need not be an owner. */
  walletClient: WalletClient<Transport, Chain, Account>;
  owners: Address[];
  threshold: number;
  /** Makes the address unique per purpose; the same owners, threshold and salt give the same Safe. */
  saltNonce?: bigint;
  /** Undefined: the chain's canonical Safe deployment. */
  contracts?: SafeContracts;
  onProgress?: (message: string) => void;
};

/**
 * Creates a Safe with protocol-kit and waits until it is on chain. The same owners, threshold and
 * salt always give the same address: if that Safe exists already, it is reused.
 */
export async function createSafe(parameters: CreateSafeParameters): Promise<SafeDeployment> {
  const { publicClient, walletClient, owners, threshold } = parameters;
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > owners.length) {
    throw new BaseError(`A Safe's threshold must be between 1 and its ${owners.length} owners; got ${threshold}.`);
  }
  const chainId = await publicClient.getChainId();
  const kit = await ProtocolKit.init({
    provider: parameters.provider,
    predictedSafe: {
      safeAccountConfig: { owners, threshold },
      safeDeploymentConfig: {
        saltNonce: (parameters.saltNonce ?? 0n).toString(),
        safeVersion: SAFE_VERSION,
      },
    },
    isL1SafeSingleton: true,
    contractNetworks: safeContractNetworks(chainId, parameters.contracts),
  });
  const address = getAddress(await kit.getAddress());
  const existing = await publicClient.getCode({ address });
  if (existing && existing !== "0x") {
    parameters.onProgress?.(`a Safe with these owners and threshold already exists at ${address}: reusing it`);
  } else {
    parameters.onProgress?.(`creating a ${threshold}-of-${owners.length} Safe at ${address}`);
    const transaction = await kit.createSafeDeploymentTransaction();
    const hash = await walletClient.sendTransaction({
      to: transaction.to as Address,
      data: transaction.data as Hex,
      value: BigInt(transaction.value),
    });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") throw new BaseError(`Creating the Safe failed in transaction ${hash}.`);
  }
  return {
    address,
    owners: owners.map((o) => getAddress(o)),
    threshold,
    chainId,
    ...(parameters.contracts ? { contracts: parameters.contracts } : {}),
  };
}

export type DeploySafeParameters = Omit<CreateSafeParameters, "contracts"> & {
  /**
   * Deploy the Safe contracts first (a local chain). Otherwise `contracts` if given, or the chain's
   * canonical Safe deployment.
   */
  deployContracts: boolean;
  contracts?: SafeContracts;
  onProgress?: (message: string) => void;
};

/**
 * The guardian Safe: on a local chain, deploys the Safe contracts and then creates the Safe; on any
 * other chain, creates it from the contracts already there.
 */
export async function deploySafe(parameters: DeploySafeParameters): Promise<SafeDeployment> {
  const contracts = parameters.deployContracts
    ? await deploySafeContracts({
        publicClient: parameters.publicClient,
        walletClient: parameters.walletClient,
        ...(parameters.onProgress ? { onProgress: parameters.onProgress } : {}),
      })
    : parameters.contracts;
  return createSafe({ ...parameters, ...(contracts ? { contracts } : {}) });
}
