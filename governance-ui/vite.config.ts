import { fileURLToPath } from "node:url";
import { tanstackRouter } from "@tanstack/router-plugin/vite";
import react from "@vitejs/plugin-react";
import { defineConfig, type Plugin } from "vite";
import { runtimeConfigFromEnv } from "./server/runtimeConfigFromEnv.ts";

/**
 * `vite` (dev) and `vite preview` serve the app with the same contract as the production server:
 * `/config.json` from the deployment manifest, `/rpc` proxied to the chain and `/worker/*` to the
 * pipeline worker, so the browser talks to one origin and the worker needs no CORS. Set
 * UI_MANIFEST, UI_RPC_URL and UI_WORKER_URL to point elsewhere than the local defaults.
 */
const rpcTarget = process.env.UI_RPC_URL ?? "http://127.0.0.1:8545";
const workerTarget = process.env.UI_WORKER_URL ?? "http://127.0.0.1:8787";

function runtimeConfig(): Plugin {
  const serve = (_req: unknown, res: { setHeader(name: string, value: string): void; end(body: string): void }) => {
    res.setHeader("content-type", "application/json");
    res.setHeader("cache-control", "no-store");
    res.end(JSON.stringify(runtimeConfigFromEnv()));
  };
  return {
    name: "dao-ai-runtime-config",
    configureServer(server) {
      server.middlewares.use("/config.json", serve);
    },
    configurePreviewServer(server) {
      server.middlewares.use("/config.json", serve);
    },
  };
}

const proxy = {
  "/rpc": { target: rpcTarget, changeOrigin: true, rewrite: () => "" },
  "/worker": { target: workerTarget, changeOrigin: true, rewrite: (path: string) => path.replace(/^\/worker/, "") },
};

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  plugins: [
    tanstackRouter({ target: "react", autoCodeSplitting: true, quoteStyle: "double", semicolons: true }),
    react(),
    runtimeConfig(),
  ],
  resolve: { dedupe: ["react", "react-dom"] },
  server: { proxy },
  preview: { proxy },
  build: { outDir: "dist", sourcemap: true, chunkSizeWarningLimit: 1200 },
});
