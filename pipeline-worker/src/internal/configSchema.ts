import { z } from "zod";
import {
  chainIdField,
  confirmationsField,
  dataDirField,
  deploymentManifestField,
  httpHostField,
  httpPortField,
  rpcUrlField,
  wholeNumber,
} from "./configFields.ts";

/**
 * The worker's configuration, validated once at start. Every field has a default where a safe
 * one exists, so that a local run needs only the chain, its id and a key. Objects are strict: an
 * unknown field is almost always a typo, and a typo silently ignored is a setting the operator
 * believes is in force but is not.
 */

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export const STORAGE_KINDS = ["helia", "kubo"] as const;
/**
 * How long a request body may pause before it is refused, for the worker and the keyholder alike.
 * A contributor on a poor link gets this long to recover; a client that stopped holds a connection
 * no longer than this.
 */
export const DEFAULT_BODY_IDLE_TIMEOUT_MS = 30_000;
/** Node's timers cannot wait longer than 2^31 - 1 ms (they fire at once instead); an hour is ample. */
export const MAX_BODY_IDLE_TIMEOUT_MS = 3_600_000;
/**
 * How many uploads the worker reads at once. Each holds a connection, encryption and import
 * buffers and a share of the hashing pool while its client paces it; past this many, an upload
 * is refused (UPLOADS_BUSY, with Retry-After) before its body is read, so that many slow or
 * stalled connections cannot exhaust the worker's memory.
 */
export const DEFAULT_MAX_CONCURRENT_UPLOADS = 32;

/**
 * The inference settings. Several workers serving the same consumers split every quota between
 * them by index, so that together they never serve more than the quota (see
 * src/inference/workerShare.ts). Parsing `{}` gives the defaults.
 */
export const inferenceConfigSchema = z
  .object({
    workerIndex: wholeNumber("a whole number, 0 or more").min(0, { error: "must be 0 or more" }).default(0),
    workerCount: wholeNumber("a positive whole number")
      .positive({ error: "must be a positive whole number" })
      .default(1),
    maxInputLength: wholeNumber("a positive whole number of characters")
      .positive({ error: "must be a positive whole number of characters" })
      .default(4096),
    settlementBatchSize: wholeNumber("a whole number from 1 to 500")
      .min(1, { error: "must be a whole number from 1 to 500" })
      .max(500, { error: "must be a whole number from 1 to 500" })
      .default(200),
    settlementIntervalSeconds: wholeNumber("a positive whole number of seconds")
      .positive({ error: "must be a positive whole number of seconds" })
      .default(60),
  })
  .strict()
  .superRefine((inference, context) => {
    if (inference.workerIndex >= inference.workerCount) {
      context.addIssue({
        code: "custom",
        path: ["workerIndex"],
        message: `must be less than inference.workerCount (${inference.workerCount})`,
      });
    }
  });

/** The id local Hardhat and Anvil chains use. */
export const LOCAL_CHAIN_ID = 31337;

/**
 * How old a chain's latest block may be before the worker and keyholders stop trusting their RPC
 * node, when the operator has not said: off on a local chain, whose blocks come only with
 * transactions, and five minutes elsewhere, where blocks come every few seconds whatever happens,
 * so a head that old means the node has stopped following the network.
 */
export function maxHeadAgeSecondsFor(chainId: number): number {
  return chainId === LOCAL_CHAIN_ID ? 0 : 300;
}

export const configSchema = z
  .object({
    rpcUrl: rpcUrlField(),
    chainId: chainIdField(),
    deploymentManifest: deploymentManifestField(),
    dataDir: dataDirField(".data/worker"),
    http: z
      .object({
        host: httpHostField(),
        port: httpPortField(8787),
        bodyIdleTimeoutMs: wholeNumber(`a whole number of milliseconds from 1 to ${MAX_BODY_IDLE_TIMEOUT_MS}`)
          .min(1, { error: `must be a whole number of milliseconds from 1 to ${MAX_BODY_IDLE_TIMEOUT_MS}` })
          .max(MAX_BODY_IDLE_TIMEOUT_MS, {
            error: `must be a whole number of milliseconds from 1 to ${MAX_BODY_IDLE_TIMEOUT_MS}`,
          })
          .default(DEFAULT_BODY_IDLE_TIMEOUT_MS),
      })
      .strict()
      .prefault({}),
    // Two blocks is a conservative default for an L2; a local chain can use 0.
    confirmations: confirmationsField(),
    stalenessSeconds: wholeNumber("a positive whole number of seconds")
      .positive({ error: "must be a positive whole number of seconds" })
      .default(60),
    // Left out, it depends on the chain (maxHeadAgeSecondsFor): a local chain mines only on demand.
    maxHeadAgeSeconds: wholeNumber("a whole number of seconds, 0 or more")
      .min(0, { error: "must be 0 or more" })
      .optional(),
    maxPayloadBytes: wholeNumber("a positive whole number of bytes")
      .positive({ error: "must be a positive whole number of bytes" })
      .default(256 * 1024 * 1024),
    maxConcurrentUploads: wholeNumber("a positive whole number of uploads")
      .positive({ error: "must be a positive whole number of uploads" })
      .default(DEFAULT_MAX_CONCURRENT_UPLOADS),
    storage: z
      .object({
        kind: z.enum(STORAGE_KINDS, { error: `must be one of ${STORAGE_KINDS.join(", ")}` }).default("helia"),
        kuboUrl: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
      })
      .strict()
      .prefault({})
      .superRefine((storage, context) => {
        if (storage.kind === "kubo" && storage.kuboUrl === undefined) {
          context.addIssue({ code: "custom", path: ["kuboUrl"], message: "is required when storage.kind is kubo" });
        }
      }),
    inference: inferenceConfigSchema.prefault({}),
    privateKey: z
      .string({ error: "must be 0x followed by 64 hex digits" })
      .regex(/^0x[0-9a-fA-F]{64}$/, { error: "must be 0x followed by 64 hex digits" }),
    logLevel: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(", ")}` }).default("info"),
  })
  .strict();

export type ConfigInput = z.input<typeof configSchema>;
