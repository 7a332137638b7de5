import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  bytesToHex,
  createPublicClient,
  createTestClient,
  createWalletClient,
  http,
  parseEther,
  toHex,
  type Abi,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type TestClient,
} from "viem";
import { mnemonicToAccount, type HDAccount } from "viem/accounts";
import { policyRegistryAbi } from "../../../deployments/abis.ts";
import { createRuntimeConfig } from "../../../governance-ui/server/runtimeConfigFromEnv.ts";
import { createUiServer, type UiServer } from "../../../governance-ui/server/createUiServer.ts";
import { createWorker, type Worker } from "@dao-ai/pipeline-worker/createWorker";
import { generateKeyholderKeyPair } from "@dao-ai/pipeline-worker/keyholderKeys";
import { createLogger } from "@dao-ai/pipeline-worker/createLogger";
import { createEmbeddedModel, trainEmbeddedModel } from "@dao-ai/pipeline-worker/createEmbeddedModel";
import { generateScamMessages } from "@dao-ai/pipeline-worker/generateScamMessages";
import { deployMulticall3 } from "../../../scripts/lib/deploy/deployMulticall3.ts";
import { deploySafe, type SafeContracts } from "../../../scripts/lib/deploy/deploySafe.ts";
import { deploySystem, type Deployment } from "../../../scripts/lib/deploy/deploySystem.ts";
import { repoRoot } from "../../../scripts/lib/deploy/contractArtifacts.ts";

const DEV_MNEMONIC = "test test test test test test test test test test test junk";

/** The part each development account plays, as in test/helpers/system.ts. */
export const ROLES = {
  deployer: 0,
  holders: [1, 2, 3],
  /** The guardian is a 2-of-3 Safe of these owners. */
  guardianOwners: [14, 15, 16],
  attester: 5,
  contributor: 6,
  consumer: 7,
  worker: 8,
  outsider: 9,
  keyholders: [11, 12, 13],
} as const;

export const HOLDER_BALANCES = [parseEther("400000"), parseEther("250000"), parseEther("100000")] as const;

export function devAccount(index: number): HDAccount {
  return mnemonicToAccount(DEV_MNEMONIC, { addressIndex: index });
}

export type Stack = {
  rpcUrl: string;
  uiUrl: string;
  workerUrl: string;
  deployment: Deployment;
  /** The guardian Safe. */
  guardian: Address;
  /** Where the chain's Safe contracts are (the UI's /config.json carries them too). */
  safeContracts: SafeContracts;
  publicClient: PublicClient;
  testClient: TestClient;
  chain: Chain;
  /** Mines `blocks` blocks. */
  mine(blocks: number): Promise<void>;
  /** Moves the chain's clock ahead and mines a block. */
  warp(seconds: number): Promise<void>;
  /** The pipeline worker, in-process: its content store holds what a training run would store there. */
  worker: Worker;
  /** Makes a change as the timelock would, for test set-up that is not what the test is about. */
  asTimelock(functionName: string, args: readonly unknown[]): Promise<void>;
  /** Sends a transaction from a development account and waits for it. */
  send(
    index: number,
    request: { address: Address; abi: Abi; functionName: string; args?: readonly unknown[]; value?: bigint },
  ): Promise<void>;
  close(): Promise<void>;
};

/**
 * The whole system behind the built UI, for browser tests: Anvil on a free port with Multicall3, the contracts
 * deployed through the one deploy module, a first policy (worker authorised, contributor
 * allowlisted, one trusted attester, a committee of three), the pipeline worker in-process, and
 * the UI server proxying /rpc and /worker. `close` stops everything it started.
 */
export async function startStack(): Promise<Stack> {
  const cleanups: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  };
  try {
    const dir = await mkdtemp(path.join(tmpdir(), "ui-e2e-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));

    const port = await freePort();
    const anvil = spawn(
      path.join(repoRoot, "node_modules/.bin/anvil"),
      ["--host", "127.0.0.1", "--port", String(port), "--accounts", "20", "--silent"],
      { stdio: "ignore", detached: true },
    );
    cleanups.push(() => stopProcessGroup(anvil));
    const rpcUrl = `http://127.0.0.1:${port}`;
    const chain: Chain = {
      id: 31337,
      name: "Local chain",
      nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
      rpcUrls: { default: { http: [rpcUrl] } },
    };
    const publicClient = createPublicClient({ chain, transport: http(rpcUrl), pollingInterval: 100 }) as PublicClient;
    await waitFor(() => publicClient.getChainId(), "Anvil to start");
    const testClient = createTestClient({ chain, mode: "anvil", transport: http(rpcUrl) }) as unknown as TestClient;
    const wallet = (index: number) =>
      createWalletClient({ account: devAccount(index), chain, transport: http(rpcUrl) });

    // As on public chains, so that the UI batches its reads through it (deployLocalStack does the same).
    await deployMulticall3(publicClient);
    const { address: guardian, contracts: safeContracts } = await deploySafe({
      provider: rpcUrl,
      publicClient,
      walletClient: wallet(ROLES.deployer),
      owners: ROLES.guardianOwners.map((i) => devAccount(i).address),
      threshold: 2,
      deployContracts: true,
    });
    const deployment = await deploySystem({
      publicClient,
      walletClient: wallet(ROLES.deployer),
      guardian,
      allocations: ROLES.holders.map((i, k) => ({ to: devAccount(i).address, amount: HOLDER_BALANCES[k]! })),
      timelockMinDelay: 60n,
      epochLength: 3600n,
      revealDelay: 600n,
    });
    const manifest = path.join(dir, "deployment.json");
    await writeFile(manifest, JSON.stringify(deployment));

    const wait = async (hash: Hex) => {
      const receipt = await publicClient.waitForTransactionReceipt({ hash });
      if (receipt.status !== "success") throw new Error(`Transaction ${hash} reverted.`);
    };
    const send: Stack["send"] = async (index, request) => {
      await wait(await wallet(index).writeContract({ ...request, args: request.args ?? [] } as never));
    };
    const timelock = deployment.contracts.timelock;
    const asTimelock: Stack["asTimelock"] = async (functionName, args) => {
      await testClient.impersonateAccount({ address: timelock });
      await testClient.setBalance({ address: timelock, value: parseEther("100") });
      const impersonated = createWalletClient({ account: timelock, chain, transport: http(rpcUrl) });
      await wait(
        await impersonated.writeContract({
          address: deployment.contracts.policyRegistry,
          abi: policyRegistryAbi,
          functionName,
          args,
        } as never),
      );
      await testClient.stopImpersonatingAccount({ address: timelock });
    };

    // A first policy, so that the worker can take contributions in.
    const keys = ROLES.keyholders.map(() => generateKeyholderKeyPair());
    await asTimelock("setWorker", [devAccount(ROLES.worker).address, true]);
    await asTimelock("setSubmitter", [devAccount(ROLES.contributor).address, true]);
    await asTimelock("setAttestationRequirement", [
      deployment.dataSchema.uid,
      [devAccount(ROLES.attester).address],
      1,
      0n,
    ]);
    await asTimelock("setCommittee", [
      ROLES.keyholders.map((i) => devAccount(i).address),
      keys.map((k) => toHex(k.publicKey)),
      2,
    ]);

    const workerKey = devAccount(ROLES.worker).getHdKey().privateKey!;
    const worker: Worker = await createWorker({
      config: {
        rpcUrl,
        chainId: 31337,
        deploymentManifest: manifest,
        dataDir: path.join(dir, "worker"),
        http: { host: "127.0.0.1", port: 0 },
        confirmations: 0,
        stalenessSeconds: 3600,
        maxPayloadBytes: 8 * 1024 * 1024,
        storage: { kind: "helia", kuboUrl: undefined },
        privateKey: bytesToHex(workerKey),
        logLevel: "silent",
      },
      logger: createLogger({ level: "silent" }),
      model: createEmbeddedModel({ weights: trainEmbeddedModel(generateScamMessages({ seed: 7, count: 2000 })) }),
      pollingIntervalMs: 300,
    });
    const workerUrl = await worker.listen();
    cleanups.push(() => worker.close());

    const distDir = path.join(dir, "dist");
    await buildUi(distDir);
    const ui: UiServer = await createUiServer({
      distDir,
      runtimeConfig: createRuntimeConfig({ deployment, blockTimeSeconds: 2, safeContracts }),
      rpcUpstream: rpcUrl,
      workerUpstream: workerUrl,
    });
    cleanups.push(() => ui.close());

    return {
      rpcUrl,
      uiUrl: ui.url,
      workerUrl,
      deployment,
      guardian,
      safeContracts: safeContracts!,
      publicClient,
      testClient,
      chain,
      mine: (blocks) => testClient.mine({ blocks }),
      async warp(seconds) {
        await testClient.increaseTime({ seconds });
        await testClient.mine({ blocks: 1 });
      },
      worker,
      asTimelock,
      send,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Builds the UI with Vite into `outDir`, in a child process (the test runner is itself a Vite). */
async function buildUi(outDir: string) {
  const vite = path.join(repoRoot, "node_modules/.bin/vite");
  const child = spawn(vite, ["build", "governance-ui", "--outDir", outDir, "--emptyOutDir", "--logLevel", "error"], {
    cwd: repoRoot,
    stdio: ["ignore", "inherit", "inherit"],
  });
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  if (code !== 0) throw new Error(`vite build failed with exit code ${code}`);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitFor<T>(probe: () => Promise<T>, what: string, timeoutMs = 20_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    try {
      return await probe();
    } catch (error) {
      if (Date.now() - started > timeoutMs) throw new Error(`Timed out waiting for ${what}`, { cause: error });
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function stopProcessGroup(child: ChildProcess) {
  if (child.exitCode !== null || child.pid === undefined) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {
    child.kill("SIGTERM");
  }
  await Promise.race([exited, new Promise((r) => setTimeout(r, 3_000))]);
}
