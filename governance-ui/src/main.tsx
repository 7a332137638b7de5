import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { createRouter, RouterProvider } from "@tanstack/react-router";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import type { Config } from "wagmi";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { AppProvider, type App } from "./lib/AppContext.tsx";
import { ChainHeadProvider } from "./lib/ChainHead.tsx";
import { createChainClients } from "./lib/createChainClients.ts";
import { createLogCache } from "./lib/createLogCache.ts";
import { createWagmiConfig } from "./lib/createWagmiConfig.ts";
import { absoluteUrl, loadRuntimeConfig } from "./lib/loadRuntimeConfig.ts";
import { WalletProvider } from "./lib/WalletContext.tsx";
import { routeTree } from "./routeTree.gen.ts";
import "./styles.css";

const router = createRouter({ routeTree, defaultPreload: "intent", scrollRestoration: true });

declare module "@tanstack/react-router" {
  interface Register {
    router: typeof router;
  }
}

// Query keys hold bigints (block numbers, proposal ids); JSON cannot, so they hash as strings.
const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      queryKeyHashFn: (key) => JSON.stringify(key, (_, v: unknown) => (typeof v === "bigint" ? v.toString() : v)),
      refetchOnWindowFocus: false,
    },
  },
});

async function start() {
  const root = createRoot(document.getElementById("root")!);
  let app: App;
  let wagmiConfig: Config;
  try {
    const config = await loadRuntimeConfig();
    const clients = await createChainClients(config);
    const fromBlock = BigInt(config.deployment.deploymentBlock);
    app = {
      ...clients,
      config,
      contracts: config.deployment.contracts,
      workerUrl: config.workerUrl ? absoluteUrl(config.workerUrl) : null,
      fromBlock,
      logCache: createLogCache({ publicClient: clients.publicClient, fromBlock }),
    };
    wagmiConfig = createWagmiConfig({ config, chain: clients.chain, publicClient: clients.publicClient });
  } catch (error) {
    root.render(<StartupError error={error} />);
    return;
  }
  root.render(
    <StrictMode>
      <QueryClientProvider client={queryClient}>
        <AppProvider app={app}>
          <ChainHeadProvider>
            <WalletProvider config={wagmiConfig}>
              <RouterProvider router={router} />
            </WalletProvider>
          </ChainHeadProvider>
        </AppProvider>
      </QueryClientProvider>
    </StrictMode>,
  );
}

function StartupError({ error }: { error: unknown }) {
  const message = error instanceof BaseError ? error.shortMessage : String(error);
  const hints = error instanceof BaseError ? error.hints : [];
  return (
    <main className="page startup-error">
      <h1>The app cannot start</h1>
      <p role="alert">{message}</p>
      {hints.length > 0 ? (
        <ul>
          {hints.map((hint) => (
            <li key={hint}>{hint}</li>
          ))}
        </ul>
      ) : null}
    </main>
  );
}

void start();
