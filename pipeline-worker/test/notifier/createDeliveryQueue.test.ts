import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { AlertPayload } from "../../src/notifier/alertPayload.ts";
import { createDeliveryQueue, type Send } from "../../src/notifier/createDeliveryQueue.ts";
import { createNotifierStore, type NotifierStore } from "../../src/notifier/createNotifierStore.ts";
import { createWebhookSender } from "../../src/notifier/createWebhookSender.ts";
import { startWebhookReceiver } from "./receivers.ts";

const secret = `whsec_${randomBytes(32).toString("base64")}`;
const alert: AlertPayload = {
  id: "evt_0123456789abcdef0123456789abcdef",
  type: "proposal.canceled",
  timestamp: "2026-12-07T15:58:12.000Z",
  chainId: 31337,
  block: { number: "1", hash: `0x${"ab".repeat(32)}`, timestamp: "2026-12-07T15:58:12.000Z" },
  transactionHash: `0x${"cd".repeat(32)}`,
  data: { governor: "0x5FbDB2315678afecb367f032d93F642f64180aa3", proposalId: "7", title: null, url: null },
};
const retry = { maxAttempts: 3, initialDelayMs: 20, maxDelayMs: 40 };

describe("createDeliveryQueue", () => {
  let directory: string;
  let store: NotifierStore;
  beforeEach(async () => {
    directory = await mkdtemp(path.join(tmpdir(), "notifier-queue-"));
    store = await createNotifierStore({
      directory,
      identity: {
        chainId: 31337,
        governor: alert.data.governor as `0x${string}`,
        registry: alert.data.governor as `0x${string}`,
        deploymentBlockHash: `0x${"01".repeat(32)}`,
      },
    });
  });
  afterEach(async () => {
    await store.close();
    await rm(directory, { recursive: true, force: true });
  });

  const queueAlert = (targets: string[]) =>
    store.commit({
      cursor: { blockNumber: 1n, blockHash: alert.block.hash as `0x${string}` },
      alerts: [{ alert, targets }],
      proposals: [],
    });

  it("gives a delivery up after the last attempt, and logs each attempt with the receiver's status", async () => {
    const receiver = await startWebhookReceiver();
    receiver.answerWith(() => 500);
    await queueAlert(["webhook:down"]);
    const senders = new Map<string, Send>([
      ["webhook:down", createWebhookSender({ url: receiver.url("/down"), secrets: [secret], timeoutMs: 1_000 })],
    ]);
    const queue = createDeliveryQueue({ store, senders, retry });
    await queue.kick();
    await vi.waitFor(async () => expect(await store.pendingDeliveries()).toEqual([]), { timeout: 5_000, interval: 20 });
    await queue.stop();
    expect(receiver.at("/down")).toHaveLength(3);
    expect((await store.deliveryLog(10)).reverse().map((e) => [e.attempt, e.outcome, e.status, e.code])).toEqual([
      [1, "retrying", 500, "WEBHOOK_DELIVERY_FAILED"],
      [2, "retrying", 500, "WEBHOOK_DELIVERY_FAILED"],
      [3, "gave-up", 500, "WEBHOOK_DELIVERY_FAILED"],
    ]);
    await receiver.close();
  });

  it("counts a receiver that does not answer in time as a failed attempt", async () => {
    const server = createServer(() => {
      // Never answers.
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as AddressInfo;
    await queueAlert(["webhook:slow"]);
    const senders = new Map<string, Send>([
      ["webhook:slow", createWebhookSender({ url: `http://127.0.0.1:${port}/`, secrets: [secret], timeoutMs: 200 })],
    ]);
    const queue = createDeliveryQueue({ store, senders, retry: { ...retry, maxAttempts: 1 } });
    await queue.kick();
    await queue.stop();
    expect((await store.deliveryLog(1))[0]).toMatchObject({
      outcome: "gave-up",
      code: "WEBHOOK_DELIVERY_FAILED",
      status: null,
      error: "The receiver did not answer within 200 ms.",
    });
    server.closeAllConnections();
    server.close();
  });

  it("drops a delivery whose subscription was removed from the configuration", async () => {
    await queueAlert(["webhook:removed"]);
    const queue = createDeliveryQueue({ store, senders: new Map(), retry });
    await queue.kick();
    await queue.stop();
    expect(await store.pendingDeliveries()).toEqual([]);
    expect((await store.deliveryLog(1))[0]).toMatchObject({ outcome: "dropped", target: "webhook:removed" });
  });
});
