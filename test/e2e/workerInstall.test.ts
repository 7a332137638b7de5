// The worker deployed as operators deploy it: `npm pack` of the workspace, unpacked into an empty
// directory outside the repository, `npm install --omit=dev` there (from the npm registry), then
// the worker and a keyholder started from that copy against a chain with the system deployed.
// Nothing of the monorepo is reachable from there, so a missing dependency or an import from
// outside the package fails here. Slow (a real install): `npm run test:install`, not `npm test`;
// pipeline-worker/test/packageDependencies.test.ts is the fast guard that `npm test` runs.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { bytesToHex, createPublicClient, createWalletClient, http, type Chain, type PublicClient } from "viem";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { generateKeyholderKeyPair } from "@dao-ai/pipeline-worker/keyholderKeys";
import { deploySystem } from "../../scripts/lib/deploy/deploySystem.ts";
import { repoRoot } from "../../scripts/lib/deploy/contractArtifacts.ts";
import { freePort, processesMentioning } from "./helpers/childProcesses.ts";
import { devAccount, HOLDER_BALANCES, ROLES } from "./helpers/startStack.ts";

const run = promisify(execFile);
const cleanups: (() => Promise<unknown>)[] = [];
let dir: string;
let app: string;
let manifest: string;
let rpcUrl: string;

/** Starts `args` in its own process group, whose every process carries the test's directory in its environment. */
function start(command: string, args: string[], options: { cwd: string; env: Record<string, string> }) {
  const child = spawn(command, args, {
    cwd: options.cwd,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? dir, WORKER_INSTALL_TEST: dir, ...options.env },
  });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  cleanups.push(() => stop(child));
  return { child, output: () => output };
}

async function stop(child: ChildProcess) {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {
    return;
  }
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
}

async function waitForStatus(url: string, status: number, what: () => string, timeoutMs = 30_000) {
  const started = Date.now();
  let last = "no answer";
  while (Date.now() - started < timeoutMs) {
    try {
      const response = await fetch(url);
      last = `${response.status} ${await response.text()}`;
      if (response.status === status) return;
    } catch (error) {
      last = String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (last: ${last}). Output:\n${what()}`);
}

describe.runIf(process.env.TEST_INSTALL === "1")("the worker installed on its own", () => {
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "worker-install-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));

    // The package exactly as `npm pack` makes it, and a production install of it.
    const { stdout } = await run("npm", ["pack", "-w", "pipeline-worker", "--pack-destination", dir, "--json"], {
      cwd: repoRoot,
    });
    const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
    await run("tar", ["-xzf", path.join(dir, filename), "-C", dir]);
    app = path.join(dir, "package");
    const started = Date.now();
    await run("npm", ["install", "--omit=dev", "--no-audit", "--no-fund", "--prefer-offline"], {
      cwd: app,
      env: { ...process.env, npm_config_update_notifier: "false" },
      maxBuffer: 16 * 1024 * 1024,
    });
    console.info(`npm install --omit=dev of the packed worker took ${((Date.now() - started) / 1000).toFixed(1)} s.`);

    // A chain with the system deployed, as `npm run deploy` leaves it.
    const port = await freePort();
    start(path.join(repoRoot, "node_modules/.bin/anvil"), ["--host", "127.0.0.1", "--port", String(port), "--silent"], {
      cwd: dir,
      env: {},
    });
    rpcUrl = `http://127.0.0.1:${port}`;
    const chain: Chain = {
      id: 31337,
      name: "Local chain",
      nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
      rpcUrls: { default: { http: [rpcUrl] } },
    };
    const publicClient = createPublicClient({ chain, transport: http(rpcUrl), pollingInterval: 100 }) as PublicClient;
    for (let tries = 0; ; tries++) {
      try {
        await publicClient.getChainId();
        break;
      } catch (error) {
        if (tries > 200) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const deployment = await deploySystem({
      publicClient,
      walletClient: createWalletClient({ account: devAccount(ROLES.deployer), chain, transport: http(rpcUrl) }),
      guardian: devAccount(ROLES.guardianOwners[0]).address,
      allocations: ROLES.holders.map((i, k) => ({ to: devAccount(i).address, amount: HOLDER_BALANCES[k]! })),
      timelockMinDelay: 60n,
      epochLength: 3600n,
      revealDelay: 600n,
    });
    manifest = path.join(dir, "deployment.json");
    await writeFile(manifest, JSON.stringify(deployment));
  }, 300_000);

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    // Nothing this file started outlives it.
    expect(processesMentioning(dir)).toEqual([]);
  });

  test("a production install (npm install --omit=dev of npm pack) starts against a chain and reports ready", async () => {
    const port = await freePort();
    const worker = start(process.execPath, ["src/main.ts"], {
      cwd: app,
      env: {
        WORKER_RPC_URL: rpcUrl,
        WORKER_CHAIN_ID: "31337",
        WORKER_DEPLOYMENT_MANIFEST: manifest,
        WORKER_DATA_DIR: path.join(dir, "worker-data"),
        WORKER_HTTP_PORT: String(port),
        WORKER_CONFIRMATIONS: "0",
        WORKER_PRIVATE_KEY: bytesToHex(devAccount(ROLES.worker).getHdKey().privateKey!),
        WORKER_LOG_LEVEL: "warn",
      },
    });
    await waitForStatus(`http://127.0.0.1:${port}/healthz`, 200, worker.output);
    await waitForStatus(`http://127.0.0.1:${port}/readyz`, 200, worker.output);
    const policy = await fetch(`http://127.0.0.1:${port}/v1/policy`);
    expect(policy.status).toBe(200);
    // It loaded nothing from the monorepo: its modules resolve inside the unpacked copy.
    expect(worker.output()).not.toContain(repoRoot);
  }, 60_000);

  test("a keyholder starts from the same install and reports healthy", async () => {
    const port = await freePort();
    const keyFile = path.join(dir, "keyholder", "key");
    await mkdir(path.dirname(keyFile), { recursive: true });
    await writeFile(keyFile, bytesToHex(generateKeyholderKeyPair().privateKey));
    await chmod(keyFile, 0o600);
    const keyholder = start(process.execPath, ["src/keyholder/main.ts"], {
      cwd: app,
      env: {
        KEYHOLDER_PRIVATE_KEY_FILE: keyFile,
        KEYHOLDER_RPC_URL: rpcUrl,
        KEYHOLDER_CHAIN_ID: "31337",
        KEYHOLDER_DEPLOYMENT_MANIFEST: manifest,
        KEYHOLDER_HTTP_PORT: String(port),
        KEYHOLDER_LOG_LEVEL: "warn",
      },
    });
    await waitForStatus(`http://127.0.0.1:${port}/healthz`, 200, keyholder.output);
  }, 60_000);

  test("the notifier starts from the same install and reports healthy", async () => {
    const port = await freePort();
    const notifier = start(process.execPath, ["src/notifier/main.ts"], {
      cwd: app,
      env: {
        NOTIFIER_RPC_URL: rpcUrl,
        NOTIFIER_CHAIN_ID: "31337",
        NOTIFIER_DEPLOYMENT_MANIFEST: manifest,
        NOTIFIER_DATA_DIR: path.join(dir, "notifier"),
        NOTIFIER_HTTP_PORT: String(port),
      },
    });
    await waitForStatus(`http://127.0.0.1:${port}/healthz`, 200, notifier.output);
    expect(notifier.output()).not.toContain(repoRoot);
  }, 60_000);
});
