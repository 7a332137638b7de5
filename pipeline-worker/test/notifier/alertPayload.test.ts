import { randomBytes } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import {
  alertPayloadSchema,
  UnknownAlertError,
  verifyAlertWebhook,
  WebhookVerificationError,
  type AlertPayload,
} from "../../src/notifier/alertPayload.ts";

const secret = `whsec_${randomBytes(32).toString("base64")}`;
const alert: AlertPayload = {
  id: "evt_0123456789abcdef0123456789abcdef",
  type: "kill_switch.lifted",
  timestamp: "2026-12-07T15:58:12.000Z",
  chainId: 31337,
  block: { number: "48", hash: `0x${"ab".repeat(32)}`, timestamp: "2026-12-07T15:58:12.000Z" },
  transactionHash: `0x${"cd".repeat(32)}`,
  data: {
    registry: "0x5FC8d32690cc91D4c39d9d3abcBD16989F875707",
    engagementId: "1",
    by: "0x5FC8d32690cc91D4c39d9d3abcBD16989F875707",
    policyVersion: "10",
    url: null,
  },
};

function signed(body: string, at = new Date(), key = secret) {
  return {
    "webhook-id": alert.id,
    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
    "webhook-signature": new Webhook(key).sign(alert.id, at, body),
  };
}

describe("verifyAlertWebhook", () => {
  it("returns the payload of a request signed with the secret, from the raw body as bytes or text", () => {
    const body = JSON.stringify(alert);
    expect(verifyAlertWebhook(Buffer.from(body), signed(body), secret)).toEqual(alert);
    // Header names arrive in any case; Node lower-cases them, other stacks may not.
    const headers = Object.fromEntries(Object.entries(signed(body)).map(([k, v]) => [k.toUpperCase(), v]));
    expect(verifyAlertWebhook(body, headers, secret)).toEqual(alert);
  });

  it("refuses another secret, a changed body, a missing header and a replay older than five minutes", () => {
    const body = JSON.stringify(alert);
    const other = `whsec_${randomBytes(32).toString("base64")}`;
    expect(() => verifyAlertWebhook(body, signed(body), other)).toThrow(
      new WebhookVerificationError("No matching signature found"),
    );
    expect(() => verifyAlertWebhook(body.replace('"1"', '"2"'), signed(body), secret)).toThrow(
      new WebhookVerificationError("No matching signature found"),
    );
    const { "webhook-signature": _, ...unsigned } = signed(body);
    expect(() => verifyAlertWebhook(body, unsigned, secret)).toThrow(
      new WebhookVerificationError("Missing required headers"),
    );
    const old = new Date(Date.now() - 6 * 60_000);
    expect(() => verifyAlertWebhook(body, signed(body, old), secret)).toThrow(
      new WebhookVerificationError("Message timestamp too old"),
    );
  });

  it("tells a correctly signed body that is not an alert it knows (a newer type) from a forgery", () => {
    const body = JSON.stringify({ ...alert, type: "kill_switch.exploded" });
    expect(() => verifyAlertWebhook(body, signed(body), secret)).toThrow(UnknownAlertError);
    expect(alertPayloadSchema.safeParse({ ...alert, data: { ...alert.data, engagementId: 1 } }).success).toBe(false);
  });
});
