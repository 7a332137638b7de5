import { createTransport } from "nodemailer";
import { WorkerError } from "../internal/WorkerError.ts";
import type { AlertPayload } from "./alertPayload.ts";
import type { DeliveryReceipt } from "./createWebhookSender.ts";
import { renderAlertText } from "./renderAlertText.ts";

export type EmailTransport = ReturnType<typeof createEmailTransport>;

/**
 * One SMTP connection setting for every email subscription, through nodemailer: any SMTP server
 * (a relay on localhost, a provider's submission port with a login). `smtpUrl` is nodemailer's
 * connection URL: `smtp://user:pass@host:587` (STARTTLS when offered) or `smtps://…:465`.
 */
export function createEmailTransport(parameters: { smtpUrl: string; timeoutMs: number }) {
  return createTransport({
    url: parameters.smtpUrl,
    connectionTimeout: parameters.timeoutMs,
    greetingTimeout: parameters.timeoutMs,
    socketTimeout: parameters.timeoutMs,
  });
}

/** Sends each alert it is given as one plain-text email to `to`, with the alert id in a header and the payload attached. */
export function createEmailSender(parameters: { transport: EmailTransport; from: string; to: readonly string[] }) {
  const { transport, from, to } = parameters;
  return async function send(alert: AlertPayload): Promise<DeliveryReceipt> {
    const { subject, text } = renderAlertText(alert);
    try {
      await transport.sendMail({
        from,
        to: [...to],
        subject: `[DAO alert] ${subject}`,
        text,
        headers: { "X-DAO-Alert-Id": alert.id, "X-DAO-Alert-Type": alert.type },
        // The same JSON a webhook gets, for mail rules and scripts that read attachments.
        attachments: [
          { filename: `${alert.id}.json`, content: JSON.stringify(alert, null, 2), contentType: "application/json" },
        ],
      });
    } catch (cause) {
      throw new WorkerError("EMAIL_DELIVERY_FAILED", "The SMTP server did not accept the alert email.", {
        cause,
        extra: { status: null },
      });
    }
    return { status: null };
  };
}
