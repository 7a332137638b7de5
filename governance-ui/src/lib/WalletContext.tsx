import { useQuery } from "@tanstack/react-query";
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";
import type { Account, Address, Chain, Transport, WalletClient } from "viem";
import {
  useConnect,
  useConnection,
  useConnections,
  useConnectors,
  useDisconnect,
  useSwitchChain,
  useWalletClient,
  WagmiProvider,
  type Config,
  type Connector,
} from "wagmi";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { useApp } from "./AppContext.tsx";
import { devAccountsConnector } from "./devAccountsConnector.ts";
import { devAccounts } from "./devAccounts.ts";

export type ConnectedWallet = {
  kind: "injected" | "dev";
  address: Address;
  /** "Development account #4", or the browser wallet's own name ("MetaMask"). */
  label: string;
  /** The browser wallet's icon (a data URI it announced); undefined for the development accounts. */
  icon: string | undefined;
  /** Signs as `address` on the app's chain, through the wallet. */
  client: WalletClient<Transport, Chain, Account>;
};

/** A browser wallet the page found: one that announced itself (EIP-6963), else a bare `window.ethereum`. */
export type BrowserWallet = { id: string; name: string; icon: string | undefined };

type WalletState = {
  wallet: ConnectedWallet | null;
  /** Development accounts offered (local chain only). */
  devAddresses: Address[];
  browserWallets: BrowserWallet[];
  injectedAvailable: boolean;
  connecting: boolean;
  /** A wallet is connected but on another chain: nothing is signed until it switches. */
  wrongChain: { chainId: number; walletName: string } | null;
  error: string | null;
  /** Connects the browser wallet `id` (from `browserWallets`), or the first one found. */
  connectInjected(id?: string): Promise<void>;
  selectDevAccount(index: number): Promise<void>;
  /** Asks the connected wallet to switch to (or add) the app's chain. */
  switchChain(): Promise<void>;
  disconnect(): void;
};

type DevAccountsConnector = Connector & { selectAccount(index: number): Promise<void> };

const WalletContext = createContext<WalletState | null>(null);

/** wagmi, with the app's chain and wallets, and `useWallet()` for the pages. */
export function WalletProvider({ config, children }: { config: Config; children: ReactNode }) {
  return (
    <WagmiProvider config={config}>
      <WalletStateProvider>{children}</WalletStateProvider>
    </WagmiProvider>
  );
}

/**
 * The wallet state the pages use, on top of wagmi: one wallet at a time (connecting another one
 * disconnects the previous), only on the app's chain, signing through wagmi's connector client.
 */
function WalletStateProvider({ children }: { children: ReactNode }) {
  const { chain } = useApp();
  const connection = useConnection();
  const connections = useConnections();
  const connectors = useConnectors();
  const connect = useConnect();
  const disconnectMutation = useDisconnect();
  const switchChainMutation = useSwitchChain();
  const [error, setError] = useState<string | null>(null);

  const devConnector = connectors.find((c) => c.type === devAccountsConnector.type) as DevAccountsConnector | undefined;
  const devAddresses = useQuery({
    queryKey: ["wallet", "dev-addresses"],
    queryFn: async () => (await devAccounts()).map((account) => account.address),
    enabled: devConnector !== undefined,
    staleTime: Infinity,
  }).data;

  const browserWallets = useMemo(() => {
    const injected = connectors.filter((c) => c.type === "injected");
    // EIP-6963 wallets have their reverse-DNS name as id; "injected" is whatever sits in window.ethereum.
    const announced = injected.filter((c) => c.id !== "injected");
    const shown =
      announced.length > 0 ? announced : injected.filter(() => typeof window !== "undefined" && "ethereum" in window);
    return shown.map((c) => ({ id: c.uid, name: walletName(c), icon: c.icon }));
  }, [connectors]);

  const connected = connection.status === "connected" ? connection : undefined;
  const onAppChain = connected !== undefined && connected.chainId === chain.id;
  const walletClient = useWalletClient({ chainId: chain.id, query: { enabled: onAppChain } }).data;

  const run = useCallback(async (action: () => Promise<unknown>) => {
    setError(null);
    try {
      await action();
    } catch (cause) {
      setError(describe(cause));
    }
  }, []);

  /** One wallet at a time: once `keep` is connected, the others are let go. */
  const disconnectOthers = useCallback(
    async (keep: Connector) => {
      for (const other of connections) {
        if (other.connector.uid !== keep.uid) await disconnectMutation.mutateAsync({ connector: other.connector });
      }
    },
    [connections, disconnectMutation],
  );

  const connectInjected = useCallback(
    (id?: string) =>
      run(async () => {
        const target = connectors.find((c) => c.uid === (id ?? browserWallets[0]?.id));
        if (!target) {
          throw new BaseError("No browser wallet found.", {
            hints: ["Install one, or act as a development account on the local chain."],
          });
        }
        if (connection.connector?.uid !== target.uid) {
          await connect.mutateAsync({ connector: target, chainId: chain.id });
        }
        await disconnectOthers(target);
      }),
    [run, connectors, browserWallets, connection.connector, connect, chain.id, disconnectOthers],
  );

  const selectDevAccount = useCallback(
    (index: number) =>
      run(async () => {
        if (!devConnector) throw new BaseError("Development accounts are offered on the local chain only.");
        if (connection.connector?.uid === devConnector.uid) await devConnector.selectAccount(index);
        else await connect.mutateAsync({ connector: devConnector, accountIndex: index } as never);
        await disconnectOthers(devConnector);
      }),
    [run, devConnector, connection.connector, connect, disconnectOthers],
  );

  const switchChain = useCallback(
    () => run(() => switchChainMutation.mutateAsync({ chainId: chain.id })),
    [run, switchChainMutation, chain.id],
  );

  const disconnect = useCallback(() => {
    setError(null);
    disconnectMutation.mutate({});
  }, [disconnectMutation]);

  const wallet = useMemo((): ConnectedWallet | null => {
    // The client follows the connection a moment later: never hand out one for another account.
    if (!connected || !onAppChain || !walletClient || walletClient.account.address !== connected.address) return null;
    const dev = connected.connector.type === devAccountsConnector.type;
    const index = devAddresses?.indexOf(connected.address) ?? -1;
    return {
      kind: dev ? "dev" : "injected",
      address: connected.address,
      label: dev ? `Development account #${index}` : walletName(connected.connector),
      icon: dev ? undefined : connected.connector.icon,
      client: walletClient as unknown as WalletClient<Transport, Chain, Account>,
    };
  }, [connected, onAppChain, walletClient, devAddresses]);

  const value = useMemo<WalletState>(
    () => ({
      wallet,
      devAddresses: devAddresses ?? [],
      browserWallets,
      injectedAvailable: browserWallets.length > 0,
      connecting: connect.isPending || switchChainMutation.isPending || connection.status === "reconnecting",
      wrongChain:
        connected && !onAppChain ? { chainId: connected.chainId, walletName: walletName(connected.connector) } : null,
      error,
      connectInjected,
      selectDevAccount,
      switchChain,
      disconnect,
    }),
    [
      wallet,
      devAddresses,
      browserWallets,
      connect.isPending,
      switchChainMutation.isPending,
      connection.status,
      connected,
      onAppChain,
      error,
      connectInjected,
      selectDevAccount,
      switchChain,
      disconnect,
    ],
  );
  return <WalletContext.Provider value={value}>{children}</WalletContext.Provider>;
}

export function useWallet(): WalletState {
  const state = useContext(WalletContext);
  if (!state) throw new BaseError("useWallet was called outside WalletProvider.");
  return state;
}

/** The name a wallet announced; wagmi calls a bare `window.ethereum` "Injected", a word people do not use. */
function walletName(connector: Connector): string {
  return connector.id === "injected" && connector.name === "Injected" ? "Browser wallet" : connector.name;
}

/** One line for the person: the wallet's own short message (a refusal, a missing chain) where it has one. */
function describe(error: unknown): string {
  if (error instanceof Error && "shortMessage" in error && typeof error.shortMessage === "string") {
    return error.shortMessage;
  }
  return error instanceof Error ? error.message : String(error);
}
