import type { Chain, Client, PublicClient } from "viem";
import { createConfig, createStorage, injected, type Config, type Transport } from "wagmi";
import { devAccountsConnector } from "./devAccountsConnector.ts";
import { LOCAL_CHAIN_ID, type RuntimeConfig } from "./RuntimeConfig.ts";

export type CreateWagmiConfigParameters = {
  config: RuntimeConfig;
  chain: Chain;
  /** The app's one public client: wagmi's reads share its batching (JSON-RPC and multicall). */
  publicClient: PublicClient;
};

/**
 * The wallets the app offers. Browser wallets are found through EIP-6963 (each announces its name
 * and icon, so several installed wallets no longer overwrite one another in `window.ethereum`);
 * the plain `injected()` connector stays for older wallets that only set `window.ethereum`. On the
 * local chain, and only there, the development accounts are a wallet too. WalletConnect is left
 * out: it needs a relay server on the internet.
 */
export function createWagmiConfig({ config, chain, publicClient }: CreateWagmiConfigParameters): Config {
  const devAccounts = config.devAccounts && config.chainId === LOCAL_CHAIN_ID;
  return createConfig({
    chains: [chain],
    connectors: [injected(), ...(devAccounts ? [devAccountsConnector()] : [])],
    multiInjectedProviderDiscovery: true,
    // Per chain, so that a wallet chosen on one deployment is not tried on another.
    storage: createStorage({ storage: window.localStorage, key: `dao-ai.wallet.${chain.id}` }),
    client: () => publicClient as Client<Transport, Chain>,
  });
}
