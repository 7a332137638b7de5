import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AlertPayload } from "../../src/notifier/alertPayload.ts";
import { verifyAlertWebhook, WebhookVerificationError } from "../../src/notifier/alertPayload.ts";
import { createWebhookSender } from "../../src/notifier/createWebhookSender.ts";
import { startWebhookReceiver } from "./receivers.ts";

const newSecret = `whsec_${randomBytes(32).toString("base64")}`;
const oldSecret = `whsec_${randomBytes(32).toString("base64")}`;
const alert: AlertPayload = {
  id: "evt_0123456789abcdef0123456789abcdef",
  type: "proposal.executed",
  timestamp: "2026-12-07T15:58:12.000Z",
  chainId: 31337,
  block: { number: "1", hash: `0x${"ab".repeat(32)}`, timestamp: "2026-12-07T15:58:12.000Z" },
  transactionHash: `0x${"cd".repeat(32)}`,
  data: {
    governor: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    proposalId: "7",
    title: "Raise the quota",
    url: null,
  },
};

describe("createWebhookSender", () => {
  let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
  beforeAll(async () => {
    receiver = await startWebhookReceiver();
  });
  afterAll(async () => {
    await receiver.close();
  });

  it("while a secret is rotated, signs with both so that a receiver holding either verifies", async () => {
    await createWebhookSender({ url: receiver.url("/rotating"), secrets: [newSecret, oldSecret], timeoutMs: 2_000 })(
      alert,
    );
    const [request] = receiver.at("/rotating");
    expect((request!.headers["webhook-signature"] as string).split(" ")).toHaveLength(2);
    const headers = request!.headers as Record<string, string>;
    expect(verifyAlertWebhook(request!.body, headers, newSecret)).toEqual(alert);
    expect(verifyAlertWebhook(request!.body, headers, oldSecret)).toEqual(alert);
    const other = `whsec_${randomBytes(32).toString("base64")}`;
    expect(() => verifyAlertWebhook(request!.body, headers, other)).toThrow(WebhookVerificationError);
  });

  it("takes only a 2xx as delivered: a redirect is not followed, and an error status is a failure", async () => {
    receiver.answerWith((p) => (p === "/moved" ? 301 : p === "/broken" ? 500 : 200));
    const send = (path: string) =>
      createWebhookSender({ url: receiver.url(path), secrets: [newSecret], timeoutMs: 2_000 })(alert);
    await expect(send("/moved")).rejects.toMatchObject({
      code: "WEBHOOK_DELIVERY_FAILED",
      shortMessage: "The receiver answered 301.",
      extra: { status: 301 },
    });
    await expect(send("/broken")).rejects.toMatchObject({ code: "WEBHOOK_DELIVERY_FAILED", extra: { status: 500 } });
    await expect(send("/fine")).resolves.toEqual({ status: 200 });
    await expect(
      createWebhookSender({ url: "http://127.0.0.1:1/", secrets: [newSecret], timeoutMs: 2_000 })(alert),
    ).rejects.toMatchObject({ code: "WEBHOOK_DELIVERY_FAILED", shortMessage: "The receiver could not be reached." });
  });
});
