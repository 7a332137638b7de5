// Deploying to "another chain" as an operator would: an Anvil chain with an L2's chain id stands in
// for the remote chain. The first deployment creates the guardian Safe (deploying the Safe
// contracts, which a new devnet lacks); the second reuses that chain's EAS and Safe contracts.
// Then the guardian commands work against the remote manifest with keys from the environment.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPublicClient, http, isAddressEqual, parseAbi } from "viem";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { policyRegistryAbi } from "../../deployments/abis.ts";
import { repoRoot } from "../../scripts/lib/deploy/contractArtifacts.ts";
import { rpcReady } from "../../scripts/lib/stack/createSupervisor.ts";
import type { SafeDeployment } from "../../scripts/lib/deploy/deploySafe.ts";
import type { Deployment } from "../../scripts/lib/deploy/deploySystem.ts";
import { DEV_ROLES, devAddress, devPrivateKey } from "../../scripts/lib/stack/devAccounts.ts";
import { anvilBinary } from "../../scripts/lib/stack/stackServices.ts";
import { freePort } from "./helpers/childProcesses.ts";

const CHAIN_ID = 84532;
const dir = mkdtempSync(join(tmpdir(), "dao-ai-deploy-"));
let anvil: ChildProcess;
let rpcUrl: string;

/** Runs one of the project's scripts with Node, as `npm run <script> --` would. */
async function script(
  file: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [join(repoRoot, "scripts", file), ...args], {
    cwd: repoRoot,
    env: { ...process.env, NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
  return { code, output };
}

beforeAll(async () => {
  const port = await freePort();
  rpcUrl = `http://127.0.0.1:${port}`;
  anvil = spawn(anvilBinary(), ["--port", `${port}`, "--chain-id", `${CHAIN_ID}`, "--accounts", "20", "--silent"], {
    stdio: "ignore",
  });
  const ready = rpcReady(rpcUrl);
  for (let i = 0; i < 100 && !(await ready()); i++) await new Promise((resolve) => setTimeout(resolve, 100));
});

afterAll(() => {
  anvil?.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

describe("deploying to another chain", () => {
  const owners = DEV_ROLES.guardianOwners.map(devAddress);
  const deployer = { DEPLOYER_PRIVATE_KEY: devPrivateKey(0) };
  // The initial holders and governance timings a public deployment must name (Anvil's blocks stand
  // in for an L2's 2 s blocks): a day before the snapshot, a week's vote, a two-day timelock.
  const governance = [
    ...DEV_ROLES.holders.flatMap((index, i) => ["--holder", `${devAddress(index)}:${[400000, 250000, 100000][i]}`]),
    ...["--block-time", "2", "--voting-delay", "1d", "--voting-period", "7d", "--timelock-delay", "2d"],
  ];

  test("refuses a public deployment that names no holders or uses the local chain's timings, before sending anything", async () => {
    const client = createPublicClient({ transport: http(rpcUrl) });
    const before = await client.getTransactionCount({ address: devAddress(0) });
    const guardian = ["--rpc-url", rpcUrl, "--guardian", devAddress(4), "--out", join(dir, "refused.json")];
    // The invocation that used to give the whole supply to the timelock, so that nobody could ever propose.
    const old = await script("deploy.ts", guardian, deployer);
    expect(old.code).toBe(1);
    expect(old.output.trim()).toMatch(/^No initial token holders on chain 84532: pass --holder 0xADDRESS:TOKENS/);
    const localTimings = await script(
      "deploy.ts",
      [...guardian, ...governance, "--voting-period", "50", "--timelock-delay", "60"],
      deployer,
    );
    expect(localTimings.code).toBe(1);
    expect(localTimings.output.trim()).toBe(
      "--voting-period 50 is 100 s, under the minimum of 1 day(s) on chain 84532: pass --voting-period 43200 (blocks) or more.",
    );
    expect(await client.getTransactionCount({ address: devAddress(0) })).toBe(before);
  }, 60_000);

  test("creates the guardian Safe with the system, then a second deployment reuses the chain's EAS and Safe contracts", async () => {
    const withoutKey = await script("deploy.ts", ["--rpc-url", rpcUrl, "--guardian-owners", owners.join(",")]);
    expect(withoutKey.code).toBe(1);
    expect(withoutKey.output).toContain("DEPLOYER_PRIVATE_KEY is not set.");

    // The chain has no Safe contracts: protocol-kit's canonical addresses hold nothing here.
    const noSafe = await script(
      "deploy.ts",
      ["--rpc-url", rpcUrl, "--guardian-owners", owners.join(","), ...governance, "--out", join(dir, "none.json")],
      deployer,
    );
    expect(noSafe.code).toBe(1);
    expect(noSafe.output).toContain("Creating the guardian Safe failed.");
    expect(noSafe.output).toContain("pass --deploy-safe-contracts");

    const first = await script(
      "deploy.ts",
      [
        "--rpc-url",
        rpcUrl,
        "--guardian-owners",
        owners.join(","),
        "--guardian-threshold",
        "2",
        "--deploy-safe-contracts",
        ...governance,
        "--out",
        join(dir, "first.json"),
      ],
      deployer,
    );
    expect(first.code, first.output).toBe(0);
    const a = JSON.parse(readFileSync(join(dir, "first.json"), "utf8")) as Deployment;
    const safe = JSON.parse(readFileSync(join(dir, "first.guardian-safe.json"), "utf8")) as SafeDeployment;
    expect(a.chainId).toBe(CHAIN_ID);
    // The timings asked for, in the Governor's clock (blocks of 2 s), and the holders can govern.
    expect(a.settings).toMatchObject({ votingDelay: 43_200, votingPeriod: 302_400, timelockMinDelay: "172800" });
    expect(first.output).toContain("ok   holders outside the timelock can reach the quorum");
    expect(a.guardian).toBe(safe.address);
    expect(safe).toMatchObject({ owners, threshold: 2, chainId: CHAIN_ID });
    const client = createPublicClient({ transport: http(rpcUrl) });
    const safeAbi = parseAbi(["function getThreshold() view returns (uint256)"]);
    expect(await client.readContract({ address: safe.address, abi: safeAbi, functionName: "getThreshold" })).toBe(2n);

    // The second deployment brings nothing the chain already has.
    const contractsFile = join(dir, "safe-contracts.json");
    writeFileSync(contractsFile, JSON.stringify(safe.contracts));
    const second = await script(
      "deploy.ts",
      [
        "--rpc-url",
        rpcUrl,
        "--eas",
        a.contracts.eas,
        "--schema-registry",
        a.contracts.schemaRegistry,
        "--guardian-owners",
        [owners[2], owners[0], owners[1]].join(","),
        "--safe-contracts",
        contractsFile,
        ...governance,
        "--out",
        join(dir, "second.json"),
      ],
      deployer,
    );
    expect(second.code, second.output).toBe(0);
    expect(second.output).not.toContain("deploying EAS");
    expect(second.output).not.toContain("deploying Safe");
    const b = JSON.parse(readFileSync(join(dir, "second.json"), "utf8")) as Deployment;
    expect(b.contracts.eas).toBe(a.contracts.eas);
    expect(b.contracts.policyRegistry).not.toBe(a.contracts.policyRegistry);
    const guardian = await client.readContract({
      address: b.contracts.policyRegistry,
      abi: policyRegistryAbi,
      functionName: "guardian",
    });
    expect(isAddressEqual(guardian, b.guardian)).toBe(true);

    // The guardian's owners engage the second deployment's kill switch from the remote manifest.
    const remote = ["--rpc-url", rpcUrl, "--manifest", join(dir, "second.json"), "--dir", join(dir, "pending")];
    const asKey = (index: number) => ({ GUARDIAN_PRIVATE_KEY: devPrivateKey(index) });
    const noKey = await script("guardian.ts", ["propose", "--reason", "Remote test", ...remote]);
    expect(noKey.code).toBe(1);
    expect(noKey.output).toContain("GUARDIAN_PRIVATE_KEY is not set.");
    const proposed = await script("guardian.ts", ["propose", "--reason", "Remote test", ...remote], asKey(14));
    expect(proposed.code, proposed.output).toBe(0);
    expect(proposed.output).toContain(`--rpc-url ${rpcUrl}`);
    const signed = await script("guardian.ts", ["sign", ...remote], asKey(15));
    expect(signed.code, signed.output).toBe(0);
    const executed = await script("guardian.ts", ["execute", ...remote], asKey(9));
    expect(executed.code, executed.output).toBe(0);
    expect(executed.output).toContain('The kill switch is engaged: "Remote test".');
    const status = await script("guardian.ts", ["status", ...remote]);
    expect(status.output).toContain("The kill switch is ENGAGED");
  }, 180_000);
});

describe("deploying to the local chain", () => {
  test("needs no flags: the development holders and the demo's short timings, and the deployment verifies", async () => {
    const port = await freePort();
    const localUrl = `http://127.0.0.1:${port}`;
    const local = spawn(anvilBinary(), ["--port", `${port}`, "--accounts", "20", "--silent"], { stdio: "ignore" });
    try {
      const ready = rpcReady(localUrl);
      for (let i = 0; i < 100 && !(await ready()); i++) await new Promise((resolve) => setTimeout(resolve, 100));
      const deployed = await script("deploy.ts", ["--rpc-url", localUrl, "--out", join(dir, "local.json")]);
      expect(deployed.code, deployed.output).toBe(0);
      expect(deployed.output).toContain("ok   holders outside the timelock can reach the proposal threshold");
      const manifest = JSON.parse(readFileSync(join(dir, "local.json"), "utf8")) as Deployment;
      expect(manifest.chainId).toBe(31337);
      expect(manifest.settings).toMatchObject({ votingDelay: 1, votingPeriod: 50, timelockMinDelay: "60" });
    } finally {
      local.kill("SIGKILL");
    }
  }, 120_000);
});
