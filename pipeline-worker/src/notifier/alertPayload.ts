// The notifier's wire format, declared once: the notifier builds its webhook bodies and emails from
// these types, and receivers import the schema (`@dao-ai/pipeline-worker/notifier`) to check what
// they were sent. Receivers should ignore fields they do not know: new fields may be added, a
// changed meaning gets a new `type`.
import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { z } from "zod";
import { BaseError } from "../internal/BaseError.ts";

/** Every kind of alert, as the payload's `type` and as subscriptions name them. */
export const ALERT_KINDS = [
  "kill_switch.engaged",
  "kill_switch.lifted",
  "proposal.created",
  "proposal.queued",
  "proposal.executed",
  "proposal.canceled",
  "proposal.ending",
] as const;

export type AlertKind = (typeof ALERT_KINDS)[number];

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/);
const hash = z.string().regex(/^0x[0-9a-fA-F]{64}$/);
/** uint256 values travel as decimal strings: JSON numbers lose precision above 2^53. */
const decimal = z.string().regex(/^\d+$/);
const isoTime = z.iso.datetime();

/** Where the alert comes from on chain. */
const blockSchema = z.object({ number: decimal, hash, timestamp: isoTime });

const envelope = {
  /**
   * Unique per alert and stable: a restart, a retry or a reorg that re-includes the same event
   * yields the same id. It is also the `webhook-id` header; receivers de-duplicate on it.
   */
  id: z.string().min(1),
  /** When the alert's block was made (the block's timestamp). */
  timestamp: isoTime,
  chainId: z.number().int().positive(),
  block: blockSchema,
  /** The transaction that emitted the event; null for `proposal.ending`, which no event announces. */
  transactionHash: hash.nullable(),
};

/** The governance UI's page about the subject, when the notifier knows the UI's URL. */
const url = z.url().nullable();

const proposalFields = {
  governor: address,
  proposalId: decimal,
  /** The description's first line without Markdown heading marks; null when the notifier never saw the proposal created. */
  title: z.string().nullable(),
  url,
};

export const alertPayloadSchema = z.discriminatedUnion("type", [
  z.object({
    ...envelope,
    type: z.literal("kill_switch.engaged"),
    data: z.object({
      registry: address,
      engagementId: decimal,
      /** The guardian (a Safe) or the timelock. */
      by: address,
      reason: z.string(),
      policyVersion: decimal,
      url,
    }),
  }),
  z.object({
    ...envelope,
    type: z.literal("kill_switch.lifted"),
    data: z.object({ registry: address, engagementId: decimal, by: address, policyVersion: decimal, url }),
  }),
  z.object({
    ...envelope,
    type: z.literal("proposal.created"),
    data: z.object({
      ...proposalFields,
      proposer: address,
      description: z.string(),
      /** The vote opens after this block and closes after `voteEnd` (the Governor counts in blocks). */
      voteStart: decimal,
      voteEnd: decimal,
      actions: z.array(z.object({ target: address, value: decimal, calldata: z.string() })),
    }),
  }),
  z.object({
    ...envelope,
    type: z.literal("proposal.queued"),
    data: z.object({
      ...proposalFields,
      /** When the timelock lets it execute. */
      eta: isoTime,
    }),
  }),
  z.object({ ...envelope, type: z.literal("proposal.executed"), data: z.object(proposalFields) }),
  z.object({ ...envelope, type: z.literal("proposal.canceled"), data: z.object(proposalFields) }),
  z.object({
    ...envelope,
    type: z.literal("proposal.ending"),
    data: z.object({
      ...proposalFields,
      /** The last block in which votes count (later if a late quorum extends it: a new alert then). */
      deadline: decimal,
      blocksLeft: decimal,
      /** From the chain's recent block times; null when it cannot tell (a chain that mines on demand). */
      estimatedEndAt: isoTime.nullable(),
      votes: z.object({ for: decimal, against: decimal, abstain: decimal }),
      /** Votes (for and abstain together) needed; `quorumReached` says whether they are there. */
      quorum: decimal,
      quorumReached: z.boolean(),
    }),
  }),
]);

export type AlertPayload = z.infer<typeof alertPayloadSchema>;
export type AlertOf<K extends AlertKind> = Extract<AlertPayload, { type: K }>;

/** Standard Webhooks secrets: `whsec_` then the base64 of 24 to 64 random bytes. */
export const WEBHOOK_SECRET_PATTERN = /^whsec_[A-Za-z0-9+/]{32,88}={0,2}$/;

/**
 * A webhook whose signature verified but whose body is not an alert this version knows: most
 * likely a newer notifier with a new `type`. Receivers should answer 2xx and ignore it, or the
 * notifier retries it to no purpose.
 */
export class UnknownAlertError extends BaseError {
  override name = "UnknownAlertError";
  /** The body as JSON, for a receiver that wants to log it. */
  readonly payload: unknown;
  constructor(payload: unknown, cause: unknown) {
    super("The webhook is signed but is not an alert this version knows.", {
      cause,
      hints: ["Answer 2xx and ignore it, or upgrade @dao-ai/pipeline-worker to read the new alert."],
    });
    this.payload = payload;
  }
}

/**
 * Checks a webhook the notifier sent and returns its payload: the HMAC-SHA256 signature (Standard
 * Webhooks: over `webhook-id.webhook-timestamp.body`, with the secret's bytes), a timestamp within
 * five minutes of now (so a captured request cannot be replayed later), and the payload's shape.
 * `body` must be the raw request body, byte for byte: parsed and re-serialised JSON does not verify.
 * Throws `WebhookVerificationError` when the signature or timestamp is wrong (answer 401), and
 * `UnknownAlertError` when it is signed but not an alert this version knows (answer 2xx).
 */
export function verifyAlertWebhook(
  body: string | Uint8Array,
  headers: Record<string, string | string[] | undefined>,
  secret: string,
): AlertPayload {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name.toLowerCase()] = Array.isArray(value) ? value.join(" ") : value;
  }
  const json = new Webhook(secret).verify(body, flat);
  const parsed = alertPayloadSchema.safeParse(json);
  if (!parsed.success) throw new UnknownAlertError(json, parsed.error);
  return parsed.data;
}

export { WebhookVerificationError };
