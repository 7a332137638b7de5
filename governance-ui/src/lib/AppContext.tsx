import { createContext, useContext, type ReactNode } from "react";
import type { Address } from "viem";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import type { ChainClients } from "./createChainClients.ts";
import type { LogCache } from "./createLogCache.ts";
import type { Deployment, RuntimeConfig } from "./RuntimeConfig.ts";

export type App = ChainClients & {
  config: RuntimeConfig;
  contracts: Deployment["contracts"];
  /** The worker's API base URL (absolute), or null when the app runs without a worker. */
  workerUrl: string | null;
  /** The first block the system's events can be in. */
  fromBlock: bigint;
  logCache: LogCache;
};

const AppContext = createContext<App | null>(null);

export function AppProvider({ app, children }: { app: App; children: ReactNode }) {
  return <AppContext.Provider value={app}>{children}</AppContext.Provider>;
}

/** The configuration, the chain clients and the contract addresses. */
export function useApp(): App {
  const app = useContext(AppContext);
  if (!app) throw new BaseError("useApp was called outside AppProvider.");
  return app;
}

export function useContracts(): Record<keyof Deployment["contracts"], Address> {
  return useApp().contracts;
}
