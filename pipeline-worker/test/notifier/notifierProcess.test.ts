import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { parseEther } from "viem";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { rpcReady } from "../../../scripts/lib/stack/createSupervisor.ts";
import { devAddress } from "../../../scripts/lib/stack/devAccounts.ts";
import { deploySystem, type Deployment } from "../../../scripts/lib/deploy/deploySystem.ts";
import { localChainClients } from "../../../scripts/lib/stack/localChain.ts";
import { anvilArguments, anvilBinary } from "../../../scripts/lib/stack/stackServices.ts";
import { policyRegistryAbi } from "../../src/abis.ts";
import { alertPayloadSchema, verifyAlertWebhook } from "../../src/notifier/alertPayload.ts";
import { startWebhookReceiver } from "./receivers.ts";

const MAIN = path.join(import.meta.dirname, "..", "..", "src", "notifier", "main.ts");
const GUARDIAN = 4;

async function freePort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The notifier as an operator runs it: `node src/notifier/main.ts`, configured by NOTIFIER_* variables. */
function startNotifier(env: Record<string, string>) {
  const child = spawn(process.execPath, [MAIN], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on("line", (line) => lines.push(line));
  createInterface({ input: child.stderr! }).on("line", (line) => lines.push(line));
  const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  return { child, lines, exited };
}

describe("the notifier as a service", () => {
  let anvil: ChildProcess;
  let dataDir: string;
  let deployment: Deployment;
  let manifest: string;
  let clients: ReturnType<typeof localChainClients>;
  let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;

  beforeAll(async () => {
    const port = await freePort();
    anvil = spawn(anvilBinary(), anvilArguments("127.0.0.1", port), { stdio: "ignore" });
    const rpcUrl = `http://127.0.0.1:${port}`;
    await vi.waitFor(async () => expect(await rpcReady(rpcUrl)()).toBe(true), { timeout: 20_000, interval: 100 });
    clients = localChainClients(rpcUrl);
    deployment = await deploySystem({
      publicClient: clients.publicClient,
      walletClient: clients.wallet(0),
      guardian: devAddress(GUARDIAN),
      allocations: [{ to: devAddress(1), amount: parseEther("1000") }],
    });
    dataDir = await mkdtemp(path.join(tmpdir(), "notifier-process-"));
    manifest = path.join(dataDir, "31337.json");
    await writeFile(manifest, JSON.stringify(deployment));
    receiver = await startWebhookReceiver();
  });

  afterAll(async () => {
    anvil?.kill("SIGKILL");
    await receiver?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("starts against a chain, alerts a kill switch engagement in its block by a signed webhook, and stops on SIGTERM", async () => {
    const secret = `whsec_${randomBytes(32).toString("base64")}`;
    const secretFile = path.join(dataDir, "webhook.secret");
    await writeFile(secretFile, secret, { mode: 0o600 });
    const notifier = startNotifier({
      NOTIFIER_CONFIG: "",
      NOTIFIER_RPC_URL: clients.publicClient.transport.url as string,
      NOTIFIER_CHAIN_ID: "31337",
      NOTIFIER_DEPLOYMENT_MANIFEST: manifest,
      NOTIFIER_DATA_DIR: path.join(dataDir, "state"),
      NOTIFIER_HTTP_PORT: "0",
      NOTIFIER_CONFIRMATIONS: "0",
      NOTIFIER_POLLING_INTERVAL_MS: "200",
      NOTIFIER_WEBHOOK_URL: receiver.url("/hook"),
      NOTIFIER_WEBHOOK_SECRET_FILE: secretFile,
      NOTIFIER_WEBHOOK_KINDS: "kill_switch.engaged,kill_switch.lifted",
    });
    try {
      const started = await vi.waitFor(
        () => {
          const line = notifier.lines.find((l) => l.includes("notifier running"));
          if (!line) throw new Error(`not started: ${notifier.lines.join("\n")}`);
          return JSON.parse(line) as { url: string; subscriptions: string[] };
        },
        { timeout: 20_000, interval: 50 },
      );
      expect(started.subscriptions).toEqual(["webhook:env"]);
      await vi.waitFor(async () => expect((await fetch(`${started.url}/healthz`)).status).toBe(200), {
        timeout: 10_000,
      });

      const hash = await clients.wallet(GUARDIAN).writeContract({
        address: deployment.contracts.policyRegistry,
        abi: policyRegistryAbi,
        functionName: "engageKillSwitch",
        args: ["drill"],
      });
      const receipt = await clients.publicClient.waitForTransactionReceipt({ hash });
      const request = await vi.waitFor(
        () => {
          const found = receiver.at("/hook")[0];
          if (!found) throw new Error("no webhook yet");
          return found;
        },
        { timeout: 10_000, interval: 20 },
      );
      const alert = verifyAlertWebhook(request.body, request.headers as Record<string, string>, secret);
      expect(alertPayloadSchema.parse(alert)).toMatchObject({
        type: "kill_switch.engaged",
        block: { number: receipt.blockNumber.toString() },
        data: { reason: "drill", engagementId: "1" },
      });
      expect(await clients.publicClient.getBlockNumber()).toBe(receipt.blockNumber);
    } finally {
      notifier.child.kill("SIGTERM");
    }
    const [code] = await notifier.exited;
    expect(code).toBe(0);
  });

  it("refuses to start on a bad configuration, with one line per problem saying what to set", async () => {
    const notifier = startNotifier({
      NOTIFIER_CONFIG: "",
      NOTIFIER_RPC_URL: "ftp://nowhere",
      NOTIFIER_CHAIN_ID: "",
      NOTIFIER_WEBHOOK_URL: "http://127.0.0.1:1/hook",
      NOTIFIER_WEBHOOK_SECRET: "hunter2",
    });
    const [code] = await notifier.exited;
    expect(code).toBe(1);
    const output = notifier.lines.join("\n");
    expect(output).toContain("Invalid notifier configuration: 3 problems.");
    expect(output).toContain("- rpcUrl (from NOTIFIER_RPC_URL): must be an http(s) or ws(s) URL.");
    expect(output).toContain("- chainId: must be a positive whole number.");
    expect(output).toContain("- webhooks.0.secret: must be whsec_ followed by the base64 of 24 to 64 random bytes");
    expect(output).not.toContain("hunter2");
  });
});
