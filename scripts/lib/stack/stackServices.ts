import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { LOCAL_CHAIN_ID } from "@dao-ai/pipeline-worker/local-stack";
import { repoRoot } from "../deploy/contractArtifacts.ts";
import { httpReady, rpcReady, type ServiceSpec } from "./createSupervisor.ts";
import { DEV_ACCOUNT_COUNT, DEV_MNEMONIC } from "./devAccounts.ts";
import { readJson, type ModelRecord, type StackPaths } from "./stackFiles.ts";

export { LOCAL_CHAIN_ID };

export type StackPorts = { chain: number; worker: number; keyholders: number[]; ui: number };

export const DEFAULT_PORTS: StackPorts = { chain: 8545, worker: 8787, keyholders: [8801, 8802, 8803], ui: 5173 };

export type StackServicesParameters = {
  paths: StackPaths;
  host: string;
  ports: StackPorts;
  /** The worker's account key (a development account on the local stack). */
  workerPrivateKey: `0x${string}`;
  /** Each keyholder's key file, in committee order (one port each in `ports.keyholders`). */
  keyholderKeyFiles: string[];
};

const require = createRequire(import.meta.url);

/**
 * The worker serves the last model a training run committed, once there is one; until then it
 * refuses queries with MODEL_UNAVAILABLE. It is given the run only, never a weights file: it reads
 * the encrypted weights the commitment names from its own IPFS node, asks the stack's keyholders
 * for the key (they check it is an authorised worker, the run unrevoked, the kill switch off) and
 * serves the weights only if they hash to the commitment.
 */
function modelEnvironment(paths: StackPaths, keyholderUrls: string[]): Record<string, string> {
  const record = readJson<ModelRecord>(paths.model);
  return {
    WORKER_MODEL_WEIGHTS: "",
    WORKER_MODEL_RUN_ID: record?.runId ?? "",
    WORKER_MODEL_KEYHOLDERS: record ? keyholderUrls.join(",") : "",
    WORKER_MODEL_OPENAI_URL: "",
  };
}

/**
 * The Anvil binary itself, not the npm wrapper script: signals then reach Anvil directly, which
 * must see SIGINT to dump its state.
 */
export function anvilBinary(): string {
  const arch = process.arch === "x64" ? "amd64" : process.arch;
  const name = process.platform === "win32" ? "anvil.exe" : "anvil";
  try {
    const binary = join(
      dirname(require.resolve(`@foundry-rs/anvil-${process.platform}-${arch}/package.json`)),
      "bin",
      name,
    );
    if (existsSync(binary)) return binary;
  } catch {
    // Fall back to the wrapper, which finds the binary itself.
  }
  return join(repoRoot, "node_modules", ".bin", "anvil");
}

/** Anvil on `host:port` as the local chain: its chain id and the funded development accounts. */
export function anvilArguments(host: string, port: number): string[] {
  return [
    "--host",
    host,
    "--port",
    String(port),
    "--chain-id",
    String(LOCAL_CHAIN_ID),
    "--accounts",
    String(DEV_ACCOUNT_COUNT),
    "--mnemonic",
    DEV_MNEMONIC,
  ];
}

/**
 * The notifier's health endpoint listens next to the worker (8790 by default), so that stacks
 * started with other ports (tests, a second data directory) do not collide on it.
 */
export function notifierPort(ports: StackPorts): number {
  return ports.worker + 3;
}

/** Where the local stack's notifier takes its webhooks and email subscriptions from, when the file exists. */
export function notifierConfigFile(paths: StackPaths): string {
  return join(paths.root, "notifier.json");
}

/**
 * Every process of the local stack, in the order they start, in one table: its name, command,
 * environment and how to tell it is ready. `npm start` starts the chain first, deploys and seeds,
 * then starts the rest; it stops them in reverse order.
 */
export function stackServices(parameters: StackServicesParameters): ServiceSpec[] {
  const { paths, host, ports } = parameters;
  const rpcUrl = `http://${host}:${ports.chain}`;
  const workerUrl = `http://${host}:${ports.worker}`;
  const uiUrl = `http://${host}:${ports.ui}`;
  return [
    {
      name: "chain",
      description: "the local chain (Anvil)",
      command: anvilBinary(),
      args: [
        ...anvilArguments(host, ports.chain),
        // Loaded at start if it exists, dumped on SIGINT and every few seconds, so a crash loses
        // at most the last few seconds.
        "--state",
        paths.chainState,
        "--state-interval",
        "5",
      ],
      url: rpcUrl,
      ready: rpcReady(rpcUrl),
      stopSignal: "SIGINT",
    },
    {
      name: "worker",
      description: "the pipeline worker",
      command: process.execPath,
      args: [join(repoRoot, "pipeline-worker", "src", "main.ts")],
      env: {
        // An operator's own worker configuration must not leak into the local stack's.
        WORKER_CONFIG: "",
        WORKER_RPC_URL: rpcUrl,
        WORKER_CHAIN_ID: String(LOCAL_CHAIN_ID),
        WORKER_DEPLOYMENT_MANIFEST: paths.manifest(LOCAL_CHAIN_ID),
        WORKER_DATA_DIR: paths.worker,
        WORKER_HTTP_HOST: host,
        WORKER_HTTP_PORT: String(ports.worker),
        // A local chain does not reorganise.
        WORKER_CONFIRMATIONS: "0",
        WORKER_PRIVATE_KEY: parameters.workerPrivateKey,
        WORKER_LOG_LEVEL: "info",
        // Settled every few seconds, so usage shows on chain while one watches.
        WORKER_SETTLEMENT_INTERVAL_SECONDS: "5",
        ...modelEnvironment(
          paths,
          ports.keyholders.map((port) => `http://${host}:${port}`),
        ),
      },
      url: workerUrl,
      ready: httpReady(`${workerUrl}/readyz`),
      stopSignal: "SIGTERM",
    },
    ...parameters.keyholderKeyFiles.map((keyFile, i): ServiceSpec => {
      const url = `http://${host}:${ports.keyholders[i]}`;
      return {
        name: `keyholder-${i + 1}`,
        description: `keyholder ${i + 1} of the committee`,
        command: process.execPath,
        args: [join(repoRoot, "pipeline-worker", "src", "keyholder", "main.ts")],
        env: {
          KEYHOLDER_PRIVATE_KEY: "",
          // The key stays in its file (readable by the owner only), out of the environment.
          KEYHOLDER_PRIVATE_KEY_FILE: keyFile,
          KEYHOLDER_RPC_URL: rpcUrl,
          KEYHOLDER_CHAIN_ID: String(LOCAL_CHAIN_ID),
          KEYHOLDER_DEPLOYMENT_MANIFEST: paths.manifest(LOCAL_CHAIN_ID),
          KEYHOLDER_HTTP_HOST: host,
          KEYHOLDER_HTTP_PORT: String(ports.keyholders[i]),
          KEYHOLDER_CONFIRMATIONS: "0",
          KEYHOLDER_KUBO_URL: "",
          KEYHOLDER_LOG_LEVEL: "info",
        },
        url,
        ready: httpReady(`${url}/v1/keyholder`),
        stopSignal: "SIGTERM",
      };
    }),
    {
      name: "ui",
      description: "the governance UI",
      command: process.execPath,
      args: [
        join(repoRoot, "governance-ui", "server", "main.ts"),
        "--manifest",
        paths.manifest(LOCAL_CHAIN_ID),
        "--rpc-url",
        rpcUrl,
        "--worker-url",
        workerUrl,
        "--dist",
        paths.ui,
        "--host",
        host,
        "--port",
        String(ports.ui),
      ],
      url: uiUrl,
      ready: httpReady(`${uiUrl}/config.json`),
      stopSignal: "SIGTERM",
    },
    {
      name: "notifier",
      description: "the notifier (alerts by webhook and email)",
      command: process.execPath,
      args: [join(repoRoot, "pipeline-worker", "src", "notifier", "main.ts")],
      env: {
        // Subscriptions come from the data directory's notifier.json when there is one; without
        // it the notifier runs and logs each alert it would send. An operator's own NOTIFIER_*
        // subscriptions must not leak into the local stack.
        NOTIFIER_CONFIG: existsSync(notifierConfigFile(paths)) ? notifierConfigFile(paths) : "",
        NOTIFIER_WEBHOOK_URL: "",
        NOTIFIER_SMTP_URL: "",
        NOTIFIER_EMAIL_TO: "",
        NOTIFIER_START_BLOCK: "",
        NOTIFIER_RPC_URL: rpcUrl,
        NOTIFIER_CHAIN_ID: String(LOCAL_CHAIN_ID),
        NOTIFIER_DEPLOYMENT_MANIFEST: paths.manifest(LOCAL_CHAIN_ID),
        NOTIFIER_DATA_DIR: join(paths.root, "notifier"),
        NOTIFIER_HTTP_HOST: host,
        NOTIFIER_HTTP_PORT: String(notifierPort(ports)),
        NOTIFIER_UI_URL: uiUrl,
        // A local chain does not reorganise, and its votes last 50 blocks.
        NOTIFIER_CONFIRMATIONS: "0",
        NOTIFIER_ENDING_WINDOW_BLOCKS: "10",
        NOTIFIER_POLLING_INTERVAL_MS: "1000",
        NOTIFIER_LOG_LEVEL: "info",
      },
      url: `http://${host}:${notifierPort(ports)}`,
      ready: httpReady(`http://${host}:${notifierPort(ports)}/healthz`),
      stopSignal: "SIGTERM",
    },
  ];
}
