import { z } from "zod";
import {
  chainIdField,
  confirmationsField,
  dataDirField,
  deploymentManifestField,
  httpHostField,
  httpPortField,
  rpcUrlField,
  wholeNumber as whole,
} from "../internal/configFields.ts";
import { LOG_LEVELS } from "../internal/configSchema.ts";
import { ALERT_KINDS, WEBHOOK_SECRET_PATTERN } from "./alertPayload.ts";

/**
 * The notifier's configuration, validated once at start. Objects are strict, as the worker's: an
 * unknown field is almost always a typo, and a subscription silently ignored is an alert nobody
 * gets. Parsing `{ rpcUrl, chainId }` gives a notifier that runs and logs every alert.
 */

const name = z
  .string({ error: "must be a short name" })
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, { error: "must be 1 to 64 letters, digits, '.', '_' or '-'" });
/** Which alerts a subscription gets; left out, all of them. */
const kinds = z
  .array(z.enum(ALERT_KINDS, { error: `must be one of ${ALERT_KINDS.join(", ")}` }))
  .min(1, { error: "must name at least one kind (leave it out for all)" })
  .optional();

const webhookSecret = z.string({ error: "must be a Standard Webhooks secret" }).regex(WEBHOOK_SECRET_PATTERN, {
  error:
    "must be whsec_ followed by the base64 of 24 to 64 random bytes; make one with: node -e \"console.log('whsec_' + require('crypto').randomBytes(32).toString('base64'))\"",
});

export const webhookSubscriptionSchema = z
  .object({
    name: name.optional(),
    url: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }),
    /** Inline, or in `secretFile` (chmod 600): `whsec_` and the base64 of 24 to 64 random bytes. */
    secret: webhookSecret.optional(),
    secretFile: z.string({ error: "must be a file path" }).min(1, { error: "must not be empty" }).optional(),
    /**
     * While rotating: the secret being replaced. Each request is then signed with both, so the
     * receiver can move to the new one at its own pace; remove it once it has.
     */
    previousSecret: webhookSecret.optional(),
    kinds,
  })
  .strict()
  .refine((w) => (w.secret === undefined) !== (w.secretFile === undefined), {
    error: "needs exactly one of secret and secretFile: receivers verify every alert with it",
  });

export const emailConfigSchema = z
  .object({
    /** nodemailer's connection URL: smtp://user:pass@host:587 (STARTTLS when offered) or smtps://…:465. */
    smtpUrl: z.url({
      protocol: /^smtps?$/,
      error: "must be an smtp:// or smtps:// URL, e.g. smtp://user:pass@mail.example.org:587",
    }),
    from: z
      .string({ error: "must be a sender address" })
      .min(3, { error: "must be a sender address, e.g. DAO alerts <alerts@example.org>" }),
    subscriptions: z
      .array(
        z
          .object({
            name: name.optional(),
            to: z
              .array(z.email({ error: "must be an email address" }))
              .min(1, { error: "must list at least one address" }),
            kinds,
          })
          .strict(),
      )
      .min(1, { error: "must list at least one subscription" }),
  })
  .strict();

export const notifierConfigSchema = z
  .object({
    rpcUrl: rpcUrlField(),
    chainId: chainIdField(),
    deploymentManifest: deploymentManifestField(),
    dataDir: dataDirField(".data/notifier"),
    http: z
      .object({
        host: httpHostField(),
        port: httpPortField(8790),
      })
      .strict()
      .prefault({}),
    /** Blocks an event waits before it is alerted, against reorgs; a local chain can use 0. */
    confirmations: confirmationsField(),
    pollingIntervalMs: whole("a whole number of milliseconds from 100")
      .min(100, { error: "must be at least 100 ms" })
      .max(60_000, { error: "must be at most 60000 ms: alerts are promised within a minute" })
      .default(2_000),
    maxBlockRange: whole("a positive whole number of blocks")
      .positive({ error: "must be a positive whole number" })
      .default(2_000),
    /** "About to end": this many blocks or fewer before a vote's deadline (300 is an hour at 12 s a block). */
    endingWindowBlocks: whole("a positive whole number of blocks")
      .positive({ error: "must be a positive whole number" })
      .default(300),
    /** Where a notifier with no state starts: left out, at the head (nothing old is sent); a block to replay from. */
    startBlock: whole("a block number").min(0, { error: "must be a block number" }).optional(),
    /** The governance UI's address, for links in alerts. */
    uiUrl: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
    webhookTimeoutMs: whole("a whole number of milliseconds")
      .min(100, { error: "must be at least 100 ms" })
      .default(10_000),
    retry: z
      .object({
        maxAttempts: whole("a whole number from 1").min(1, { error: "must be at least 1" }).default(20),
        initialDelayMs: whole("a whole number of milliseconds")
          .min(1, { error: "must be at least 1 ms" })
          .default(1_000),
        maxDelayMs: whole("a whole number of milliseconds")
          .min(1, { error: "must be at least 1 ms" })
          .max(2_147_483_647, { error: "must fit a timer (at most 2147483647 ms)" })
          .default(3_600_000),
      })
      .strict()
      .prefault({}),
    webhooks: z.array(webhookSubscriptionSchema).default([]),
    email: emailConfigSchema.optional(),
    logLevel: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(", ")}` }).default("info"),
  })
  .strict();

export type NotifierConfigInput = z.input<typeof notifierConfigSchema>;
