// Serves the built governance UI against a deployment:
//
//   npm run start -w governance-ui -- [--manifest deployments/31337.json] \
//     [--rpc-url http://127.0.0.1:8545] [--worker-url http://127.0.0.1:8787] [--port 5173] [--host 127.0.0.1]
//
// Without --manifest it uses the local chain's: deployments/31337.json, else .data/deployments/31337.json.
// The chain's Safe contracts (for the Safe pages, where they are not the canonical ones) come from
// --safe-contracts FILE, else the guardian-safe.json the deploy wrote next to the manifest.
//
// The browser talks to this server only: it proxies /rpc to the chain and /worker/* to the worker.
// Build the app first with `npm run build -w governance-ui`.
import { existsSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { readDeploymentManifest } from "@dao-ai/pipeline-worker/readDeploymentManifest";
import { createUiServer } from "./createUiServer.ts";
import { createRuntimeConfig, defaultManifestPath, readSafeContracts } from "./runtimeConfigFromEnv.ts";

const { values } = parseArgs({
  options: {
    manifest: { type: "string", default: process.env.UI_MANIFEST },
    "rpc-url": { type: "string", default: process.env.UI_RPC_URL ?? "http://127.0.0.1:8545" },
    "worker-url": { type: "string", default: process.env.UI_WORKER_URL ?? "http://127.0.0.1:8787" },
    "no-worker": { type: "boolean", default: false },
    port: { type: "string", default: process.env.UI_PORT ?? "5173" },
    host: { type: "string", default: process.env.UI_HOST ?? "127.0.0.1" },
    dist: { type: "string", default: path.resolve(import.meta.dirname, "../dist") },
    "safe-contracts": { type: "string", default: process.env.UI_SAFE_CONTRACTS },
  },
});

async function main() {
  // Under `npm run -w`, the working directory is the workspace; paths given on the command line
  // are relative to where the person typed them (npm's INIT_CWD).
  const cwd = process.env.INIT_CWD ?? process.cwd();
  const manifest = values.manifest ? path.resolve(cwd, values.manifest) : defaultManifestPath();
  const distDir = path.resolve(cwd, values.dist!);
  if (!existsSync(path.join(distDir, "index.html"))) {
    throw new BaseError(`No built app in ${distDir}.`, { hints: ["Build it first: npm run build -w governance-ui."] });
  }
  const deployment = readDeploymentManifest(manifest);
  const server = await createUiServer({
    distDir,
    runtimeConfig: createRuntimeConfig({
      deployment,
      workerUrl: values["no-worker"] ? null : "/worker",
      // Where the chain's Safe contracts are, if not canonical: next to the manifest unless given.
      safeContracts: readSafeContracts(
        manifest,
        values["safe-contracts"] ? path.resolve(cwd, values["safe-contracts"]) : undefined,
      ),
    }),
    rpcUpstream: values["rpc-url"]!,
    workerUpstream: values["no-worker"] ? undefined : values["worker-url"],
    host: values.host!,
    port: Number(values.port),
  });
  console.log(`Governance UI for chain ${deployment.chainId} at ${server.url}`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof BaseError ? error.message : error);
  process.exit(1);
});
