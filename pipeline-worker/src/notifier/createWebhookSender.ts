import { Webhook } from "standardwebhooks";
import { WorkerError } from "../internal/WorkerError.ts";
import type { AlertPayload } from "./alertPayload.ts";

export type CreateWebhookSenderParameters = {
  url: string;
  /**
   * Standard Webhooks secrets (`whsec_` and base64): the current one, and while rotating the one
   * being replaced. Each request carries a signature by each, space-separated as the spec says,
   * so a receiver holding either verifies it.
   */
  secrets: readonly string[];
  /** How long a receiver may take to answer. */
  timeoutMs: number;
  /** The clock for the signed timestamp; injected by tests. */
  now?: () => Date;
};

export type DeliveryReceipt = { status: number | null };

/**
 * Posts alerts to one webhook URL as Standard Webhooks do (the spec Svix, Zapier and others
 * follow): the JSON payload as the body, and `webhook-id` (the alert id, for de-duplication),
 * `webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,` and the base64 HMAC-SHA256 of
 * `id.timestamp.body` under the secret) as headers. Signing is the `standardwebhooks` package's,
 * so receivers can verify with that package in any language. Redirects are not followed: a
 * receiver that moved must be configured anew, not silently forwarded to.
 */
export function createWebhookSender(parameters: CreateWebhookSenderParameters) {
  const { url, timeoutMs } = parameters;
  const webhooks = parameters.secrets.map((secret) => new Webhook(secret));
  const now = parameters.now ?? (() => new Date());

  return async function send(alert: AlertPayload): Promise<DeliveryReceipt> {
    const body = JSON.stringify(alert);
    const at = now();
    let response: Response;
    try {
      response = await fetch(url, {
        method: "POST",
        redirect: "manual",
        signal: AbortSignal.timeout(timeoutMs),
        headers: {
          "content-type": "application/json",
          "user-agent": "dao-ai-notifier/1",
          "webhook-id": alert.id,
          "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
          "webhook-signature": webhooks.map((webhook) => webhook.sign(alert.id, at, body)).join(" "),
        },
        body,
      });
      // The body is not needed; reading it frees the connection for the next delivery.
      await response.arrayBuffer().catch(() => undefined);
    } catch (cause) {
      const timedOut = cause instanceof Error && cause.name === "TimeoutError";
      throw new WorkerError(
        "WEBHOOK_DELIVERY_FAILED",
        timedOut ? `The receiver did not answer within ${timeoutMs} ms.` : "The receiver could not be reached.",
        { cause, extra: { status: null } },
      );
    }
    if (response.status < 200 || response.status > 299) {
      throw new WorkerError("WEBHOOK_DELIVERY_FAILED", `The receiver answered ${response.status}.`, {
        extra: { status: response.status },
      });
    }
    return { status: response.status };
  };
}
