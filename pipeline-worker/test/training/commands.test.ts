import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bytesToHex, getAddress, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { modelCommitmentsAbi } from "../../../deployments/abis.ts";
import { generateScamMessages } from "../../src/model/generateScamMessages.ts";
import { createTrainingSystem, type Submitted, type TrainingSystem } from "./createTrainingSystem.ts";
import { serveChainOverHttp } from "./serveChainOverHttp.ts";

// The commands as an operator runs them, each as its own process against the chain over HTTP:
// three keyholders (src/keyholder/main.ts), then the training command's spec, run and reveal
// (src/training/main.ts) on the stopped worker's data directory, then verify-model.

const root = path.resolve(import.meta.dirname, "../..");
const run = promisify(execFile);
const REVEAL_DELAY = 600;

let t: TrainingSystem;
let chain: Awaited<ReturnType<typeof serveChainOverHttp>>;
let dir: string;
let submitted: Submitted[];
const keyholders: { process: ChildProcess; url: string }[] = [];

/** Starts a keyholder process with its key in a file, and waits for the URL it logs. */
async function startKeyholderProcess(index: number): Promise<{ process: ChildProcess; url: string }> {
  const keyFile = path.join(dir, `keyholder-${index}.key`);
  await writeFile(keyFile, `${bytesToHex(t.s.keyholderKeys[index]!.privateKey)}\n`, { mode: 0o600 });
  const child = spawn(process.execPath, [path.join(root, "src/keyholder/main.ts")], {
    env: {
      PATH: process.env.PATH,
      KEYHOLDER_PRIVATE_KEY_FILE: keyFile,
      KEYHOLDER_RPC_URL: chain.url,
      KEYHOLDER_CHAIN_ID: String(t.deployment.chainId),
      KEYHOLDER_DEPLOYMENT_MANIFEST: path.join(t.s.dataDir, "deployment.json"),
      KEYHOLDER_HTTP_PORT: "0",
      KEYHOLDER_CONFIRMATIONS: "0",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`keyholder exited with ${code}`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const entry = JSON.parse(line) as { msg?: string; url?: string; publicKey?: string };
      if (entry.msg === "keyholder listening") {
        // The key itself is never logged; its public half is.
        expect(line).not.toContain(bytesToHex(t.s.keyholderKeys[index]!.privateKey).slice(2));
        expect(entry.publicKey).toBe(bytesToHex(t.s.keyholderKeys[index]!.publicKey));
        resolve(entry.url!);
      }
    });
  });
  return { process: child, url };
}

function trainingCommand(args: string[]) {
  return run(process.execPath, [path.join(root, "src/training/main.ts"), ...args], { env: trainingEnv() });
}

/** The worker's configuration, which the training command shares. */
function trainingEnv(): NodeJS.ProcessEnv {
  // The worker's account: index 8 of the development mnemonic, as in test/helpers/system.ts.
  const worker = mnemonicToAccount("test test test test test test test test test test test junk", { addressIndex: 8 });
  expect(getAddress(worker.address)).toBe(getAddress(t.accounts.worker.account.address));
  return {
    PATH: process.env.PATH,
    WORKER_RPC_URL: chain.url,
    WORKER_CHAIN_ID: String(t.deployment.chainId),
    WORKER_DEPLOYMENT_MANIFEST: path.join(t.s.dataDir, "deployment.json"),
    WORKER_DATA_DIR: t.s.dataDir,
    WORKER_PRIVATE_KEY: bytesToHex(worker.getHdKey().privateKey!),
    WORKER_LOG_LEVEL: "silent",
  };
}

beforeAll(async () => {
  t = await createTrainingSystem();
  dir = await mkdtemp(path.join(tmpdir(), "training-commands-"));
  const records = generateScamMessages({ seed: 5, count: 900 });
  submitted = [];
  for (let i = 0; i < 3; i++) submitted.push(await t.submitRecords(records.slice(i * 300, (i + 1) * 300)));
  chain = await serveChainOverHttp(t.connection.provider);
  for (let i = 0; i < 3; i++) keyholders.push(await startKeyholderProcess(i));
  // The embedded IPFS repository and journal take one process at a time: the worker stops.
  await t.s.stop();
}, 120_000);
afterAll(async () => {
  for (const keyholder of keyholders) keyholder.process.kill("SIGTERM");
  await chain?.close();
  await t?.s.start();
  await t?.closeAll();
  await rm(dir, { recursive: true, force: true });
});

describe("the operator's commands, as separate processes", () => {
  it("spec, approve, run with keyholder processes, reveal after the delay, verify", async () => {
    const specFile = path.join(dir, "spec.json");
    const built = JSON.parse((await trainingCommand(["spec", "--out", specFile, "--dimensions", "1024"])).stdout) as {
      specHash: Hex;
      submissions: number;
    };
    expect(built.submissions).toBe(3);

    const runId = await t.approveRun(built.specHash);
    const weightsFile = path.join(dir, "weights.json");
    const report = JSON.parse(
      (
        await trainingCommand([
          "run",
          "--run-id",
          runId,
          "--spec",
          specFile,
          "--keyholders",
          keyholders.map((k) => k.url).join(","),
          "--weights-out",
          weightsFile,
        ])
      ).stdout,
    ) as { included: unknown[]; excluded: unknown[]; examples: number; weightsHash: Hex };
    expect(report).toMatchObject({ examples: 900, excluded: [] });
    expect(report.included).toHaveLength(3);
    const commitment = await t.publicClient.readContract({
      address: t.contracts.modelCommitments,
      abi: modelCommitmentsAbi,
      functionName: "commitmentOf",
      args: [runId],
    });
    expect(commitment.weightsHash).toBe(report.weightsHash);
    expect((await readFile(weightsFile)).byteLength).toBeGreaterThan(1000);

    // Too early, the reveal command refuses with one line and a non-zero exit.
    const early = await trainingCommand(["reveal", "--run-id", runId, "--weights", weightsFile]).catch(
      (error: { code: number; stderr: string }) => error,
    );
    expect(early).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^Run 0x[0-9a-f]+'s model may be revealed from/),
    });

    await t.testClient.increaseTime({ seconds: REVEAL_DELAY + 1 });
    await t.testClient.mine({ blocks: 1 });
    const revealed = JSON.parse(
      (await trainingCommand(["reveal", "--run-id", runId, "--weights", weightsFile])).stdout,
    ) as {
      uri: string;
    };
    expect(revealed.uri).toMatch(/^ipfs:\/\//);

    const verified = await run(process.execPath, [
      path.join(root, "scripts/verify-model.ts"),
      "--rpc-url",
      chain.url,
      "--deployment",
      path.join(t.s.dataDir, "deployment.json"),
      "--run-id",
      runId,
      "--ipfs-dir",
      path.join(t.s.dataDir, "ipfs"),
    ]);
    expect(verified.stdout).toContain(
      `OK: the revealed weights of run ${runId} match the committed hash ${report.weightsHash}`,
    );

    // The worker serves the trained model, checked against the run's commitment as it starts.
    const worker = spawn(process.execPath, [path.join(root, "src/main.ts")], {
      env: {
        ...trainingEnv(),
        WORKER_HTTP_PORT: "0",
        WORKER_CONFIRMATIONS: "0",
        WORKER_LOG_LEVEL: "info",
        WORKER_MODEL_WEIGHTS: weightsFile,
        WORKER_MODEL_RUN_ID: runId,
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      const listening = await new Promise<{ model: string }>((resolve, reject) => {
        worker.once("exit", (code) => reject(new Error(`worker exited with ${code}`)));
        createInterface({ input: worker.stdout! }).on("line", (line) => {
          const entry = JSON.parse(line) as { msg?: string; model: string };
          if (entry.msg === "worker listening") resolve(entry);
        });
      });
      expect(listening.model).toBe(report.weightsHash);
    } finally {
      worker.kill("SIGTERM");
      await new Promise((resolve) => worker.once("exit", resolve));
    }
  }, 120_000);
});
