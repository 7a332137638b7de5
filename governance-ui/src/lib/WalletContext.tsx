import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import {
  createWalletClient,
  custom,
  getAddress,
  http,
  numberToHex,
  type Account,
  type Address,
  type Chain,
  type EIP1193Provider,
  type Transport,
  type WalletClient,
} from "viem";
import { BaseError } from "../../../pipeline-worker/src/internal/BaseError.ts";
import { useApp } from "./AppContext.tsx";
import { devAccounts } from "./devAccounts.ts";
import { LOCAL_CHAIN_ID } from "./RuntimeConfig.ts";

declare global {
  interface Window {
    ethereum?: EIP1193Provider;
  }
}

export type ConnectedWallet = {
  kind: "injected" | "dev";
  address: Address;
  /** "Development account #4" or "Browser wallet". */
  label: string;
  client: WalletClient<Transport, Chain, Account>;
};

type WalletState = {
  wallet: ConnectedWallet | null;
  /** Development accounts offered (local chain only). */
  devAddresses: Address[];
  injectedAvailable: boolean;
  connecting: boolean;
  error: string | null;
  connectInjected(): Promise<void>;
  selectDevAccount(index: number): Promise<void>;
  disconnect(): void;
};

const WalletContext = createContext<WalletState | null>(null);
const STORAGE_KEY = "dao-ai.wallet";

/**
 * The wallet: an injected EIP-1193 provider (a browser wallet), or on the local chain one of the
 * development accounts, signed for locally so that the demo runs without any wallet installed.
 */
export function WalletProvider({ children }: { children: ReactNode }) {
  const { config, chain, rpcUrl } = useApp();
  const devEnabled = config.devAccounts && config.chainId === LOCAL_CHAIN_ID;
  const [wallet, setWallet] = useState<ConnectedWallet | null>(null);
  const [devAddresses, setDevAddresses] = useState<Address[]>([]);
  const [connecting, setConnecting] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const injected = typeof window !== "undefined" ? window.ethereum : undefined;

  const selectDevAccount = useCallback(
    async (index: number) => {
      const account = (await devAccounts())[index];
      if (!account) throw new BaseError(`There is no development account ${index}.`);
      setWallet({
        kind: "dev",
        address: account.address,
        label: `Development account #${index}`,
        client: createWalletClient({ account, chain, transport: http(rpcUrl) }),
      });
      setError(null);
      localStorage.setItem(STORAGE_KEY, JSON.stringify({ kind: "dev", index }));
    },
    [chain, rpcUrl],
  );

  const connectInjected = useCallback(async () => {
    if (!injected) {
      setError("No browser wallet found. Install one, or use a development account on the local chain.");
      return;
    }
    setConnecting(true);
    setError(null);
    try {
      const [first] = (await injected.request({ method: "eth_requestAccounts" })) as Address[];
      if (!first) throw new BaseError("The wallet shared no account.");
      await ensureChain(injected, chain);
      const address = getAddress(first);
      setWallet({
        kind: "injected",
        address,
        label: "Browser wallet",
        client: createWalletClient({ account: address, chain, transport: custom(injected) }) as WalletClient<
          Transport,
          Chain,
          Account
        >,
      });
      localStorage.setItem(STORAGE_KEY, JSON.stringify({ kind: "injected" }));
    } catch (cause) {
      setError(
        cause instanceof BaseError ? cause.shortMessage : cause instanceof Error ? cause.message : String(cause),
      );
    } finally {
      setConnecting(false);
    }
  }, [injected, chain]);

  const disconnect = useCallback(() => {
    setWallet(null);
    localStorage.removeItem(STORAGE_KEY);
  }, []);

  // The development accounts' addresses, for the picker.
  useEffect(() => {
    if (!devEnabled) return;
    let cancelled = false;
    void devAccounts().then((list) => {
      if (!cancelled) setDevAddresses(list.map((a) => a.address));
    });
    return () => {
      cancelled = true;
    };
  }, [devEnabled]);

  // Reconnect to what was used last, without prompting.
  useEffect(() => {
    const saved = safeParse(localStorage.getItem(STORAGE_KEY));
    if (saved?.kind === "dev" && devEnabled && typeof saved.index === "number") void selectDevAccount(saved.index);
    if (saved?.kind === "injected" && injected) {
      void (injected.request({ method: "eth_accounts" }) as Promise<Address[]>).then((accounts) => {
        if (accounts.length > 0) void connectInjected();
      });
    }
    // Only once, at start: later changes come from the wallet itself.
  }, []);

  // Follow the browser wallet's account and chain.
  useEffect(() => {
    if (!injected || wallet?.kind !== "injected") return;
    const onAccounts = (accounts: string[]) => {
      if (accounts.length === 0) setWallet(null);
      else void connectInjected();
    };
    const onChain = (chainId: string) => {
      if (Number(chainId) !== chain.id)
        setError(`The wallet switched to chain ${Number(chainId)}; this app is for chain ${chain.id}.`);
      else setError(null);
    };
    injected.on("accountsChanged", onAccounts);
    injected.on("chainChanged", onChain);
    return () => {
      injected.removeListener("accountsChanged", onAccounts);
      injected.removeListener("chainChanged", onChain);
    };
  }, [injected, wallet?.kind, chain.id, connectInjected]);

  const value = useMemo<WalletState>(
    () => ({
      wallet,
      devAddresses: devEnabled ? devAddresses : [],
      injectedAvailable: injected !== undefined,
      connecting,
      error,
      connectInjected,
      selectDevAccount,
      disconnect,
    }),
    [wallet, devEnabled, devAddresses, injected, connecting, error, connectInjected, selectDevAccount, disconnect],
  );
  return <WalletContext.Provider value={value}>{children}</WalletContext.Provider>;
}

export function useWallet(): WalletState {
  const state = useContext(WalletContext);
  if (!state) throw new BaseError("useWallet was called outside WalletProvider.");
  return state;
}

async function ensureChain(provider: EIP1193Provider, chain: Chain) {
  const current = Number(await provider.request({ method: "eth_chainId" }));
  if (current === chain.id) return;
  try {
    await provider.request({ method: "wallet_switchEthereumChain", params: [{ chainId: numberToHex(chain.id) }] });
  } catch {
    await provider.request({
      method: "wallet_addEthereumChain",
      params: [
        {
          chainId: numberToHex(chain.id),
          chainName: chain.name,
          nativeCurrency: chain.nativeCurrency,
          rpcUrls: [...chain.rpcUrls.default.http],
        },
      ],
    });
  }
}

function safeParse(text: string | null): { kind?: string; index?: number } | null {
  try {
    return text ? (JSON.parse(text) as { kind?: string; index?: number }) : null;
  } catch {
    return null;
  }
}
