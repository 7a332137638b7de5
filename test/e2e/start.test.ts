// `npm start` as a user runs it: in a terminal's process group, stopped with Ctrl-C (SIGINT).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { BEARER_TOKEN_PATTERN, USAGE_CSV_COLUMNS, type QuotaStatus } from "@dao-ai/pipeline-worker/consumer-api";
import { signChatRequest } from "@dao-ai/pipeline-worker/openai";
import OpenAI, { APIError } from "openai";
import { createPublicClient, getAddress, http, isAddressEqual, parseAbi, type Address } from "viem";
import { afterAll, describe, expect, test } from "vitest";
import { policyRegistryAbi } from "../../deployments/abis.ts";
import { repoRoot } from "../../scripts/lib/deploy/contractArtifacts.ts";
import { DEV_ROLES, devAccount, devAddress } from "../../scripts/lib/stack/devAccounts.ts";
import { signQueryRequest } from "../../scripts/lib/actors/signQueryRequest.ts";
import { isAlive, type StackInfo } from "../../scripts/lib/stack/stackFiles.ts";
import type { Deployment } from "../../scripts/lib/deploy/deploySystem.ts";
import { freePort, isListening, npmRun, processesMentioning, type NpmRun } from "./helpers/childProcesses.ts";

const dataDir = mkdtempSync(join(tmpdir(), "dao-ai-start-"));
let run: NpmRun | undefined;

afterAll(async () => {
  // A failed test must not leave a stack behind either.
  if (run && run.child.exitCode === null && run.child.signalCode === null) {
    run.signal("SIGKILL");
    await run.exited;
  }
  for (const p of processesMentioning(dataDir)) process.kill(p.pid, "SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
});

/**
 * What the development consumer's client signs next at the worker (GET /v1/quota: the worker, the
 * epoch, the fee, the lane's next total), and a deadline ten minutes on.
 */
async function nextVoucher(workerUrl: string) {
  const quota = (await (
    await fetch(`${workerUrl}/v1/quota?consumer=${devAddress(DEV_ROLES.consumer)}`)
  ).json()) as QuotaStatus;
  return {
    worker: quota.worker,
    epoch: BigInt(quota.epoch),
    total: BigInt(quota.nextTotal),
    maxFeePerQuery: BigInt(quota.feePerQuery),
    deadline: BigInt(Math.floor(Date.now() / 1000) + 600),
  };
}

/** The development consumer asks the worker, as its client would: a Usage voucher signed with EIP-712. */
async function ask(workerUrl: string, deployment: Deployment, input: string) {
  const body = await signQueryRequest({
    account: devAccount(DEV_ROLES.consumer),
    chainId: deployment.chainId,
    usageSettlement: deployment.contracts.usageSettlement,
    input,
    ...(await nextVoucher(workerUrl)),
  });
  const response = await fetch(`${workerUrl}/v1/queries`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as { answer?: { label: string }; code?: string } };
}

/** `curl` as the README shows it, with an API key and nothing else. */
function curl(args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn("curl", ["-sS", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve) => child.once("close", (code) => resolve({ code, output })));
}

async function stopWithCtrlC(current: NpmRun, info: StackInfo, ports: number[]) {
  current.signal("SIGINT");
  const { code, signal } = await current.exited;
  // npm, like a shell, ends itself with the signal it forwarded once its script has exited.
  expect(code === 0 || signal === "SIGINT", current.output()).toBe(true);
  expect(current.output()).toContain("Stopped. Everything is kept in");
  for (const pid of [info.pid, ...info.services.map((s) => s.pid!)]) expect(isAlive(pid), `process ${pid}`).toBe(false);
  for (const port of ports) expect(await isListening(port), `port ${port}`).toBe(false);
  expect(processesMentioning(dataDir)).toEqual([]);
  const stack = JSON.parse(readFileSync(join(dataDir, "stack.json"), "utf8")) as StackInfo;
  expect(stack.status).toBe("stopped");
}

describe("npm start", () => {
  test("starts everything, every part answers, Ctrl-C stops it all, and a restart picks up where it stopped", async () => {
    const chainPort = await freePort();
    const workerPort = await freePort();
    const keyholderPorts = [await freePort(), await freePort(), await freePort()];
    const uiPort = await freePort();
    const ports = [chainPort, workerPort, ...keyholderPorts, uiPort];
    const args = [
      "start",
      "--",
      "--data-dir",
      dataDir,
      "--chain-port",
      `${chainPort}`,
      "--worker-port",
      `${workerPort}`,
      "--keyholder-ports",
      keyholderPorts.join(","),
      "--ui-port",
      `${uiPort}`,
    ];

    run = npmRun(args, repoRoot);
    await run.waitFor("Press Ctrl-C to stop.", 240_000);
    const output = run.output();
    for (const step of [
      "Starting the local chain (Anvil)",
      "Deploying the guardian Safe and the contracts",
      "Verifying the deployment",
      "Seeding a first policy through governance",
      "Building the governance UI",
      "Starting the services: worker, keyholder-1, keyholder-2, keyholder-3, ui",
      "Training a first model: attested demo data, a run approved by vote",
      "The system is running.",
    ]) {
      expect(output).toContain(step);
    }
    expect(output).toMatch(
      /trained model run 0x[0-9a-f]{64} on 1500 messages of attested contributions, held-out accuracy \d+\.\d% on 1000 messages/,
    );
    const info = JSON.parse(readFileSync(join(dataDir, "stack.json"), "utf8")) as StackInfo;
    expect(info.status).toBe("running");
    const deployment = JSON.parse(readFileSync(info.manifest, "utf8")) as Deployment;
    // The summary says what is where: every contract, the Safe, every development account's part.
    for (const address of [...Object.values(deployment.contracts), info.safe.address])
      expect(output).toContain(address);
    expect(output).toContain(`${devAddress(DEV_ROLES.contributor)}  data contributor`);
    expect(output).toContain(`${devAddress(DEV_ROLES.guardianOwners[0])}  guardian Safe owner 1`);

    // The chain: the contracts are there, and the guardian is a 2-of-3 Safe.
    const client = createPublicClient({ transport: http(info.rpcUrl) });
    expect(await client.getChainId()).toBe(31337);
    const read = (functionName: string, args: readonly unknown[] = []) =>
      client.readContract({
        address: deployment.contracts.policyRegistry,
        abi: policyRegistryAbi,
        functionName,
        args,
      } as never);
    expect(isAddressEqual((await read("guardian")) as Address, info.safe.address)).toBe(true);
    const safeAbi = parseAbi([
      "function getThreshold() view returns (uint256)",
      "function getOwners() view returns (address[])",
    ]);
    expect(await client.readContract({ address: info.safe.address, abi: safeAbi, functionName: "getThreshold" })).toBe(
      2n,
    );
    expect(await client.readContract({ address: info.safe.address, abi: safeAbi, functionName: "getOwners" })).toEqual(
      DEV_ROLES.guardianOwners.map((i) => getAddress(devAddress(i))),
    );

    // The worker: alive, ready, and enforcing the seeded policy.
    const worker = info.services.find((s) => s.name === "worker")!;
    expect((await fetch(`${worker.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${worker.url}/readyz`)).status).toBe(200);
    const policy = (await (await fetch(`${worker.url}/v1/policy`)).json()) as {
      policy: {
        submitters: string[];
        workers: string[];
        quotas: Record<string, string>;
        committee: { members: string[]; threshold: number };
        attestation: { attesters: string[]; minAttestations: number; schemaUID: string };
        killSwitch: { engaged: boolean };
      };
    };
    expect(policy.policy.submitters).toEqual([devAddress(DEV_ROLES.contributor)]);
    expect(policy.policy.workers).toEqual([devAddress(DEV_ROLES.worker)]);
    expect(policy.policy.quotas).toEqual({ [devAddress(DEV_ROLES.consumer)]: "5" });
    expect(policy.policy.committee.members).toEqual(DEV_ROLES.keyholders.map(devAddress));
    expect(policy.policy.committee.threshold).toBe(2);
    expect(policy.policy.attestation).toMatchObject({
      schemaUID: deployment.dataSchema.uid,
      attesters: [devAddress(DEV_ROLES.attester)],
      minAttestations: 1,
    });
    expect(policy.policy.killSwitch.engaged).toBe(false);
    // The model: the first signed query is answered, by the model trained and committed at start,
    // and right (the consume page's example).
    const first = await ask(worker.url, deployment, "URGENT: verify your wallet seed phrase to claim your prize");
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body.answer?.label).toBe("scam");
    // The keyholders: each serves the public key the committee on chain has for it.
    const keyholders = info.services.filter((s) => s.name.startsWith("keyholder-"));
    expect(keyholders.map((k) => k.url)).toEqual(keyholderPorts.map((p) => `http://127.0.0.1:${p}`));
    const onChain = (await read("committee")) as readonly [bigint, Address[], `0x${string}`[], number];
    for (const [i, keyholder] of keyholders.entries()) {
      const answer = (await (await fetch(`${keyholder.url}/v1/keyholder`)).json()) as { publicKey: string };
      expect(answer.publicKey).toBe(onChain[2][i]);
    }

    // The UI: the app, its configuration for this deployment, and its proxies to the chain and the worker.
    const ui = info.services.find((s) => s.name === "ui")!;
    expect(ui.url).toBe(`http://127.0.0.1:${uiPort}`);
    expect(await (await fetch(ui.url)).text()).toContain("<!doctype html>");
    const config = (await (await fetch(`${ui.url}/config.json`)).json()) as { chainId: number; deployment: Deployment };
    expect(config.chainId).toBe(31337);
    expect(config.deployment.contracts).toEqual(deployment.contracts);
    expect((await fetch(`${ui.url}/worker/readyz`)).status).toBe(200);
    const rpc = await fetch(`${ui.url}/rpc`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
    });
    expect(((await rpc.json()) as { result: string }).result).toBe("0x7a69");

    // Every service in the stack file answers (a service added to the table is checked here too).
    for (const service of info.services) {
      const answered = service.name === "chain" ? await client.getBlockNumber() : (await fetch(service.url)).status;
      expect(answered, service.name).toBeDefined();
    }

    await stopWithCtrlC(run, info, ports);

    // A restart keeps the chain and the deployment, and skips the seed.
    run = npmRun(args, repoRoot);
    await run.waitFor("Press Ctrl-C to stop.", 120_000);
    expect(run.output()).toContain("Picking up the deployment");
    expect(run.output()).toContain("already seeded");
    expect(run.output()).not.toContain("The chain was reset");
    // The model trained at the first start is served again, not trained again.
    expect(run.output()).toContain("Picking up the trained model");
    expect(run.output()).toMatch(/trained before: nothing retrained/);
    expect(run.output()).not.toContain("votes for");
    const again200 = await ask(worker.url, deployment, "are we still on for lunch tomorrow? I can bring the charger");
    expect(again200.status, JSON.stringify(again200.body)).toBe(200);
    expect(again200.body.answer?.label).toBe("legit");
    // The same model through OpenAI's API, as the `openai` client calls it: answered within the
    // quota (two of its five queries are used), whole and streamed, then refused beyond it.
    const openai = new OpenAI({ baseURL: `${worker.url}/v1`, apiKey: "unused", maxRetries: 0 });
    const [served] = (await openai.models.list()).data;
    expect(served!.id).toMatch(/^0x[0-9a-f]{64}$/);
    const chat = <Extra extends object>(content: string, extra: Extra) => ({
      model: served!.id,
      messages: [{ role: "user" as const, content }],
      ...extra,
    });
    const headers = async (body: object) =>
      signChatRequest({
        body,
        signer: devAccount(DEV_ROLES.consumer),
        consumer: devAddress(DEV_ROLES.consumer),
        chainId: deployment.chainId,
        usageSettlement: deployment.contracts.usageSettlement,
        ...(await nextVoucher(worker.url)),
      });
    const whole = chat("URGENT: verify your wallet seed phrase to claim your prize", {});
    const completion = await openai.chat.completions.create(whole, { headers: await headers(whole) });
    expect(completion.choices[0]!.message.content).toMatch(/^scam \(confidence: (low|medium|high)\)$/);

    const streamed = chat("are we still on for lunch tomorrow? I can bring the charger", {
      stream: true as const,
    });
    let text = "";
    for await (const chunk of await openai.chat.completions.create(streamed, { headers: await headers(streamed) }))
      text += chunk.choices[0]?.delta.content ?? "";
    expect(text).toMatch(/^legit \(confidence: (low|medium|high)\)$/);
    const fifth = chat("see you at 5", {});
    await openai.chat.completions.create(fifth, { headers: await headers(fifth) });
    const beyond = chat("one more", {});
    const refused = await openai.chat.completions.create(beyond, { headers: await headers(beyond) }).catch((e) => e);
    expect(refused).toBeInstanceOf(APIError);
    expect(refused).toMatchObject({ status: 429, code: "QUOTA_EXHAUSTED" });

    // Access with no vote and no wallet prompt: a new consumer (development account 17, which no
    // proposal names) joins the starter tier by paying with the CLI, makes an API key with one
    // signature, and asks with curl and with the `openai` client carrying only the key.
    const consume = async (...command: string[]) => {
      const ran = npmRun(["run", "consume", "--", ...command, "--account", "17", "--data-dir", dataDir], repoRoot);
      expect((await ran.exited).code, ran.output()).toBe(0);
      return ran.output();
    };
    expect(await consume("join-tier", "0")).toContain("Member of tier 0");
    const created = await consume("keys", "create");
    const token = created
      .split("\n")
      .find((l) => BEARER_TOKEN_PATTERN.test(l.trim()))
      ?.trim();
    expect(token, created).toBeDefined();
    expect(created).toContain(`curl -s ${worker.url}/v1/queries -H "Authorization: Bearer $DAO_AI_KEY"`);
    const asked = await curl([
      `${worker.url}/v1/queries`,
      "-H",
      `Authorization: Bearer ${token}`,
      "-H",
      "content-type: application/json",
      "-d",
      JSON.stringify({ input: "URGENT: verify your wallet seed phrase to claim your prize" }),
    ]);
    expect(asked.code, asked.output).toBe(0);
    expect(JSON.parse(asked.output), asked.output).toMatchObject({
      answer: { label: "scam" },
      usage: { quota: "20", remaining: "19" },
    });
    const keyed = new OpenAI({ baseURL: `${worker.url}/v1`, apiKey: token!, maxRetries: 0 });
    const keyedChat = await keyed.chat.completions.create(chat("are we still on for lunch tomorrow?", {}));
    expect(keyedChat.choices[0]!.message.content).toMatch(/^legit \(confidence: (low|medium|high)\)$/);
    expect(await consume("keys", "list")).toContain("active until");
    expect(await consume("usage", "--csv")).toContain(USAGE_CSV_COLUMNS.join(","));

    const again = JSON.parse(readFileSync(join(dataDir, "stack.json"), "utf8")) as StackInfo;
    expect(again.safe.address).toBe(info.safe.address);
    expect((await fetch(`${worker.url}/readyz`)).status).toBe(200);

    // The guardian's owners pull the kill switch with their CLI, one owner after the other; the
    // OpenAI route then refuses as the client reports it, before any quota is looked at.
    for (const command of [["propose", "--reason", "npm start test"], ["sign"], ["execute"]]) {
      const guardian = npmRun(["run", "guardian", "--", ...command, "--data-dir", dataDir], repoRoot);
      const { code } = await guardian.exited;
      expect(code, guardian.output()).toBe(0);
    }
    const stopped = chat("is this still answered?", {});
    await expect
      .poll(async () => openai.chat.completions.create(stopped, { headers: await headers(stopped) }).catch((e) => e), {
        timeout: 15_000,
      })
      .toMatchObject({ status: 503, code: "KILL_SWITCH_ENGAGED" });
    await stopWithCtrlC(run, again, ports);
  }, 420_000);
});
