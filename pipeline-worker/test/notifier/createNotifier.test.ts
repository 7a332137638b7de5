import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Webhook } from "standardwebhooks";
import { getAddress } from "viem";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createGovernance, registryAction, type Proposal } from "../../../test/helpers/governance.ts";
import { createSystem, type System } from "../../../test/helpers/system.ts";
import { policyGovernorAbi, policyRegistryAbi } from "../../src/abis.ts";
import { createLogger } from "../../src/internal/createLogger.ts";
import {
  alertPayloadSchema,
  verifyAlertWebhook,
  WebhookVerificationError,
  type AlertPayload,
} from "../../src/notifier/alertPayload.ts";
import { createNotifier, type Notifier } from "../../src/notifier/createNotifier.ts";
import { createNotifierServer } from "../../src/notifier/createNotifierServer.ts";
import { loadNotifierConfig, type NotifierConfig } from "../../src/notifier/loadNotifierConfig.ts";
import { readNotifierDeployment } from "../../src/notifier/readNotifierDeployment.ts";
import { startSmtpServer, startWebhookReceiver } from "./receivers.ts";

const secret = () => `whsec_${randomBytes(32).toString("base64")}`;
const WINDOW = 5;

/**
 * The notifier against the whole system on Hardhat's in-process chain, with a local webhook
 * receiver and a local SMTP server. The tests run in order, as one proposal's life: the guardian
 * engages the kill switch, a holder proposes to lift it, the vote nears its end, passes, is
 * queued and executed (which lifts the switch), and the notifier is restarted.
 */
describe("notifier", () => {
  let system: System;
  let governance: ReturnType<typeof createGovernance>;
  let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let dataDir: string;
  let config: NotifierConfig;
  let notifier: Notifier;
  let proposal: Proposal;
  const secrets = { ops: secret(), flaky: secret() };

  const start = async () => {
    const deployment = readNotifierDeployment(config.deploymentManifest);
    notifier = await createNotifier({
      config,
      client: system.publicClient,
      deployment,
      logger: createLogger({ level: "silent" }),
    });
    notifier.start();
  };

  /** Waits until the `ops` receiver got an alert of `type` (the n-th, from 1) and returns it with its request. */
  const alertAt = async (type: AlertPayload["type"], nth = 1) =>
    vi.waitFor(
      () => {
        const found = receiver.at("/ops").filter((r) => r.payload.type === type);
        if (found.length < nth) throw new Error(`no ${type} alert yet`);
        const request = found[nth - 1]!;
        return { request, alert: alertPayloadSchema.parse(request.payload) };
      },
      { timeout: 10_000, interval: 20 },
    );

  beforeAll(async () => {
    system = await createSystem();
    await system.delegateAll();
    governance = createGovernance(system);
    receiver = await startWebhookReceiver();
    smtp = await startSmtpServer();
    dataDir = await mkdtemp(path.join(tmpdir(), "notifier-"));
    const manifest = path.join(dataDir, "deployment.json");
    await writeFile(manifest, JSON.stringify(system.deployment));
    const file = path.join(dataDir, "notifier.json");
    await writeFile(
      file,
      JSON.stringify({
        confirmations: 0,
        pollingIntervalMs: 100,
        endingWindowBlocks: WINDOW,
        retry: { maxAttempts: 5, initialDelayMs: 100, maxDelayMs: 400 },
        webhooks: [
          { name: "ops", url: receiver.url("/ops"), secret: secrets.ops },
          { name: "flaky", url: receiver.url("/flaky"), secret: secrets.flaky, kinds: ["kill_switch.engaged"] },
        ],
        email: {
          smtpUrl: smtp.url,
          from: "DAO alerts <alerts@dao.example>",
          subscriptions: [
            { name: "owners", to: ["owner@dao.example"], kinds: ["kill_switch.engaged", "kill_switch.lifted"] },
          ],
        },
      }),
      { mode: 0o600 },
    );
    config = loadNotifierConfig({
      NOTIFIER_CONFIG: file,
      // The notifier is handed the in-process chain's client; this URL is never used.
      NOTIFIER_RPC_URL: "http://127.0.0.1:1",
      NOTIFIER_CHAIN_ID: String(system.deployment.chainId),
      NOTIFIER_DEPLOYMENT_MANIFEST: manifest,
      NOTIFIER_DATA_DIR: path.join(dataDir, "state"),
      NOTIFIER_UI_URL: "http://127.0.0.1:5173",
    });
    await start();
    await notifier.poll();
  });

  afterAll(async () => {
    await notifier?.close();
    await receiver?.close();
    await smtp?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const engage = async (reason: string) =>
    system.wait(
      await system.accounts.guardian.writeContract({
        address: system.deployment.contracts.policyRegistry,
        abi: policyRegistryAbi,
        functionName: "engageKillSwitch",
        args: [reason],
      }),
    );

  it("sends nothing about what happened before its first start", async () => {
    await notifier.poll();
    expect(receiver.received).toEqual([]);
    expect((await notifier.health()).ok).toBe(true);
  });

  it("alerts that the kill switch was engaged at the event's block, signed so that the receiver can verify it", async () => {
    // The flaky receiver fails its first two requests (see the retry test).
    receiver.answerWith((p, attempt) => (p === "/flaky" && attempt <= 2 ? 503 : 200));
    const receipt = await engage("poisoned data in submission 7");
    const { request, alert } = await alertAt("kill_switch.engaged");
    // Within the block: no other block was mined before the webhook arrived.
    expect(alert.block.number).toBe(receipt.blockNumber.toString());
    expect(await system.publicClient.getBlockNumber()).toBe(receipt.blockNumber);
    expect(alert).toMatchObject({
      type: "kill_switch.engaged",
      chainId: system.deployment.chainId,
      transactionHash: receipt.transactionHash,
      data: {
        engagementId: "1",
        by: getAddress(system.accounts.guardian.account.address),
        reason: "poisoned data in submission 7",
        url: "http://127.0.0.1:5173/guardian",
      },
    });
    expect(request.headers["webhook-id"]).toBe(alert.id);
    expect(request.headers["content-type"]).toBe("application/json");

    // The documented verification: the raw body and the three headers, with the subscription's secret.
    expect(verifyAlertWebhook(request.body, request.headers as Record<string, string>, secrets.ops)).toEqual(alert);
    expect(new Webhook(secrets.ops).verify(request.body, request.headers as Record<string, string>)).toEqual(alert);
    expect(() => verifyAlertWebhook(request.body, request.headers as Record<string, string>, secret())).toThrow(
      new WebhookVerificationError("No matching signature found"),
    );
    const tampered = request.body.replace("submission 7", "submission 8");
    expect(() => verifyAlertWebhook(tampered, request.headers as Record<string, string>, secrets.ops)).toThrow(
      WebhookVerificationError,
    );
    // The flaky receiver's secret does not verify the ops receiver's request: each subscription has its own.
    expect(() => verifyAlertWebhook(request.body, request.headers as Record<string, string>, secrets.flaky)).toThrow(
      WebhookVerificationError,
    );
  });

  it("emails the subscribed owners through the SMTP server", async () => {
    const { alert } = await alertAt("kill_switch.engaged");
    const message = await vi.waitFor(
      () => {
        const found = smtp.messages.find((m) => m.raw.includes(alert.id));
        if (!found) throw new Error("no email yet");
        return found;
      },
      { timeout: 10_000, interval: 20 },
    );
    expect(message.to).toEqual(["owner@dao.example"]);
    expect(message.from).toBe("alerts@dao.example");
    expect(message.raw).toContain("Subject: [DAO alert] Kill switch ENGAGED: poisoned data in submission 7");
    expect(message.raw).toMatch(new RegExp(`^X-DAO-Alert-Id: ${alert.id}\r?$`, "im"));
    expect(message.raw).toContain("Reason: poisoned data in submission 7");
  });

  it("retries a receiver that fails, with the same webhook-id and backoff, until it accepts", async () => {
    const { alert } = await alertAt("kill_switch.engaged");
    const attempts = await vi.waitFor(
      () => {
        const found = receiver.at("/flaky");
        if (found.length < 3) throw new Error("not retried yet");
        return found;
      },
      { timeout: 10_000, interval: 20 },
    );
    expect(attempts.map((r) => r.headers["webhook-id"])).toEqual([alert.id, alert.id, alert.id]);
    // Backoff: 100 ms then 200 ms, each at least half of that after jitter.
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(45);
    expect(attempts[2]!.at - attempts[1]!.at).toBeGreaterThanOrEqual(95);
    // Each attempt is signed afresh and verifies.
    for (const r of attempts)
      expect(verifyAlertWebhook(r.body, r.headers as Record<string, string>, secrets.flaky).id).toBe(alert.id);
    const log = await vi.waitFor(async () => {
      const entries = (await notifier.deliveryLog(50)).filter(
        (e) => e.alertId === alert.id && e.target === "webhook:flaky",
      );
      if (!entries.some((e) => e.outcome === "delivered")) throw new Error("not delivered yet");
      return entries.reverse();
    });
    expect(log.map((e) => [e.attempt, e.outcome, e.status, e.code])).toEqual([
      [1, "retrying", 503, "WEBHOOK_DELIVERY_FAILED"],
      [2, "retrying", 503, "WEBHOOK_DELIVERY_FAILED"],
      [3, "delivered", 200, null],
    ]);
    receiver.answerWith(() => 200);
  });

  it("alerts that a proposal was created, with its title and vote, at its block", async () => {
    proposal = await governance.propose(
      [registryAction(system, "liftKillSwitch", [1n])],
      "# Lift the kill switch\n\nThe poisoned submission was voided.",
    );
    const head = await system.publicClient.getBlockNumber();
    const { alert } = await alertAt("proposal.created");
    expect(alert.block.number).toBe(head.toString());
    expect(alert).toMatchObject({
      type: "proposal.created",
      data: {
        proposalId: proposal.proposalId.toString(),
        proposer: getAddress(system.accounts.holders[0].account.address),
        title: "Lift the kill switch",
        description: "# Lift the kill switch\n\nThe poisoned submission was voided.",
        url: `http://127.0.0.1:5173/proposals/${proposal.proposalId}`,
        actions: [
          {
            target: getAddress(system.deployment.contracts.policyRegistry),
            value: "0",
            calldata: proposal.calldatas[0],
          },
        ],
      },
    });
    const deadline = await system.publicClient.readContract({
      address: system.deployment.contracts.governor,
      abi: policyGovernorAbi,
      functionName: "proposalDeadline",
      args: [proposal.proposalId],
    });
    expect(alert.type === "proposal.created" && alert.data.voteEnd).toBe(deadline.toString());
  });

  it(`alerts that the vote is about to end once its deadline is ${WINDOW} blocks away, once`, async () => {
    await governance.openVoting(proposal);
    for (const holder of system.accounts.holders) await governance.vote(proposal, { voter: holder, support: 1 });
    const deadline = await system.publicClient.readContract({
      address: system.deployment.contracts.governor,
      abi: policyGovernorAbi,
      functionName: "proposalDeadline",
      args: [proposal.proposalId],
    });
    const head = await system.publicClient.getBlockNumber();
    // One block before the window: nothing yet.
    await system.testClient.mine({ blocks: Number(deadline - BigInt(WINDOW) - 1n - head) });
    await notifier.poll();
    expect(receiver.at("/ops").filter((r) => r.payload.type === "proposal.ending")).toEqual([]);
    await system.testClient.mine({ blocks: 1 });
    const { alert } = await alertAt("proposal.ending");
    expect(alert.block.number).toBe((deadline - BigInt(WINDOW)).toString());
    expect(alert).toMatchObject({
      type: "proposal.ending",
      transactionHash: null,
      data: {
        proposalId: proposal.proposalId.toString(),
        title: "Lift the kill switch",
        deadline: deadline.toString(),
        blocksLeft: String(WINDOW),
        quorumReached: true,
        votes: { against: "0", abstain: "0" },
      },
    });
    await system.testClient.mine({ blocks: 2 });
    await notifier.poll();
    await notifier.poll();
    expect(receiver.at("/ops").filter((r) => r.payload.type === "proposal.ending")).toHaveLength(1);
  });

  it("alerts that the proposal was queued, with when it can execute", async () => {
    await governance.closeVoting(proposal);
    const receipt = await governance.queue(proposal);
    const { alert } = await alertAt("proposal.queued");
    expect(alert.block.number).toBe(receipt.blockNumber.toString());
    const eta = await system.publicClient.readContract({
      address: system.deployment.contracts.governor,
      abi: policyGovernorAbi,
      functionName: "proposalEta",
      args: [proposal.proposalId],
    });
    expect(alert).toMatchObject({
      type: "proposal.queued",
      transactionHash: receipt.transactionHash,
      data: {
        proposalId: proposal.proposalId.toString(),
        title: "Lift the kill switch",
        eta: new Date(Number(eta) * 1000).toISOString(),
      },
    });
  });

  it("alerts that the proposal was executed and the kill switch lifted, by webhook and email", async () => {
    await governance.waitForTimelock(proposal);
    const receipt = await governance.execute(proposal);
    const lifted = await alertAt("kill_switch.lifted");
    const executed = await alertAt("proposal.executed");
    expect(lifted.alert.block.number).toBe(receipt.blockNumber.toString());
    expect(executed.alert.block.number).toBe(receipt.blockNumber.toString());
    expect(lifted.alert).toMatchObject({
      data: { engagementId: "1", by: getAddress(system.deployment.contracts.timelock) },
    });
    expect(executed.alert).toMatchObject({ data: { title: "Lift the kill switch" } });
    await vi.waitFor(() => {
      if (!smtp.messages.some((m) => m.raw.includes(lifted.alert.id))) throw new Error("no email yet");
    });
    // Only the kinds the owners subscribed to reach their inbox: the engagement and the lift.
    expect(smtp.messages).toHaveLength(2);
  });

  it("after a restart sends nothing twice and what happened meanwhile once, finishing retries in progress", async () => {
    const sent = () => receiver.received.map((r) => `${r.path} ${r.headers["webhook-id"] as string}`);
    // The flaky receiver is down when a third engagement comes, and the notifier stops mid-retry.
    receiver.answerWith((p) => (p === "/flaky" ? 503 : 200));
    const receipt = await engage("third time");
    await alertAt("kill_switch.engaged", 2);
    await vi.waitFor(() => {
      if (receiver.at("/flaky").length < 4) throw new Error("no failed attempt yet");
    });
    await notifier.close();
    const before = sent();

    // Meanwhile, while it is down: a new proposal.
    const next = await governance.propose([registryAction(system, "liftKillSwitch", [2n])], "Lift it again");
    receiver.answerWith(() => 200);
    await start();
    const created = await vi.waitFor(
      () => {
        const found = receiver.at("/ops").filter((r) => r.payload.type === "proposal.created");
        if (found.length < 2) throw new Error("not yet");
        return found[1]!;
      },
      { timeout: 10_000, interval: 20 },
    );
    expect(created.payload).toMatchObject({ data: { proposalId: next.proposalId.toString(), title: "Lift it again" } });
    // The retry in progress completes after the restart.
    const { alert: third } = await alertAt("kill_switch.engaged", 2);
    expect(third.block.number).toBe(receipt.blockNumber.toString());
    await vi.waitFor(async () => {
      const delivered = (await notifier.deliveryLog(20)).some(
        (e) => e.alertId === third.id && e.target === "webhook:flaky" && e.outcome === "delivered",
      );
      if (!delivered) throw new Error("not yet");
    });
    await notifier.poll();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const after = sent().slice(before.length);
    // Only the new proposal (to ops) and the retried engagement (to flaky) were sent after the restart.
    expect(after.sort()).toEqual([`/flaky ${third.id}`, `/ops ${created.payload.id}`].sort());
    // No alert ever reached the ops receiver twice.
    const opsIds = receiver.at("/ops").map((r) => r.payload.id);
    expect(new Set(opsIds).size).toBe(opsIds.length);
  });

  it("follows a reorganised chain: reads the new blocks again and alerts what they hold once", async () => {
    const snapshot = await system.testClient.snapshot();
    await governance.propose([registryAction(system, "liftKillSwitch", [2n])], "On a branch that will vanish");
    await alertAt("proposal.created", 3);
    await system.testClient.revert({ id: snapshot });
    // The new branch's proposal sits at the same height as the vanished one: only a notifier that
    // noticed its last block was replaced reads that height again.
    const kept = await governance.propose([registryAction(system, "liftKillSwitch", [2n])], "On the branch that stays");
    const { alert } = await alertAt("proposal.created", 4);
    expect(alert).toMatchObject({
      data: { proposalId: kept.proposalId.toString(), title: "On the branch that stays" },
    });
    expect(alert.block.number).toBe((await system.publicClient.getBlockNumber()).toString());
    await system.testClient.mine({ blocks: 1 });
    await notifier.poll();
    const health = await notifier.health();
    expect(health).toMatchObject({ ok: true, blockNumber: (BigInt(alert.block.number) + 1n).toString() });
    const opsIds = receiver.at("/ops").map((r) => r.payload.id);
    expect(new Set(opsIds).size).toBe(opsIds.length);
  });

  it("reports its health, its alerts and its delivery log over HTTP", async () => {
    const app = createNotifierServer(notifier);
    await notifier.poll();
    const health = await app.inject({ method: "GET", url: "/healthz" });
    expect(health.statusCode).toBe(200);
    expect(health.json()).toMatchObject({
      ok: true,
      chainId: system.deployment.chainId,
      blockNumber: (await system.publicClient.getBlockNumber()).toString(),
      subscriptions: ["webhook:ops", "webhook:flaky", "email:owners"],
      pendingDeliveries: 0,
    });
    const alerts = (await app.inject({ method: "GET", url: "/v1/alerts?limit=2" })).json() as {
      alerts: AlertPayload[];
    };
    expect(alerts.alerts.map((a) => a.type)).toEqual(["proposal.created", "proposal.created"]);
    const deliveries = (await app.inject({ method: "GET", url: "/v1/deliveries" })).json() as {
      deliveries: { outcome: string }[];
    };
    expect(deliveries.deliveries.length).toBeGreaterThan(0);
    await app.close();
  });
});
