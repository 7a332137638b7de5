import type { SafeContracts } from "@dao-ai/pipeline-worker/safe";
import type { DeploymentManifest as Deployment } from "@dao-ai/pipeline-worker/deployment";

export type { Deployment };

/**
 * What the server tells the app at `/config.json`, so that one build works against any chain: the
 * chain, where to reach its JSON-RPC and the worker (usually through the same origin), and the
 * deployment manifest the deploy script wrote.
 */
export type RuntimeConfig = {
  chainId: number;
  chainName: string;
  /** JSON-RPC endpoint, absolute or relative to the page (e.g. `/rpc`, proxied by the server). */
  rpcUrl: string;
  /** The pipeline worker's API, absolute or relative to the page (e.g. `/worker`); null when none is configured. */
  workerUrl: string | null;
  deployment: Deployment;
  /**
   * Offer the development mnemonic's accounts as wallets. Honoured only on chain 31337, whose
   * accounts are public and worthless anywhere else.
   */
  devAccounts: boolean;
  /**
   * Where the chain's Safe contracts are, for protocol-kit in the browser; absent: the canonical
   * deployment protocol-kit knows (public chains). A local chain deploys its own.
   */
  safeContracts?: SafeContracts;
  /** Seconds per block, to turn block counts into clock time; measured from the chain when absent. */
  blockTimeSeconds?: number;
};

/** The chain id of local Hardhat and Anvil chains. */
export const LOCAL_CHAIN_ID = 31337;
