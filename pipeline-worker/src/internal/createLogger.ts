import { pino, type DestinationStream, type Logger } from "pino";
import type { LOG_LEVELS } from "./configSchema.ts";
import { redactUrls, redactUrlsDeep } from "./redactUrls.ts";

export type CreateLoggerParameters = {
  level?: (typeof LOG_LEVELS)[number];
  /** The component that logs, e.g. "ingest"; shown as `name` on every line. */
  name?: string;
  /** Where lines go; defaults to stdout. Tests pass a stream to read the lines back. */
  destination?: DestinationStream;
};

// Secrets that may end up inside a logged object (a config, a request, a key holder's state).
// pino's redaction paths match fixed depths, so the likely depths are listed.
const SECRET_KEYS = ["privateKey", "dataKey", "share", "shares", "authorization"];
const REDACT_PATHS = SECRET_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);

const ERROR_KEYS = new Set(["err", "error"]);

/** pino's error serialiser (type, message and stack with their causes, own fields), with URLs hidden. */
function serializeError(error: unknown): unknown {
  return redactUrlsDeep(error instanceof Error ? pino.stdSerializers.err(error) : error);
}

/**
 * One JSON object per line, so that log shippers parse the worker's logs without a grammar.
 * Secrets are redacted at the logger, not at each call site, because a call site that forgets is
 * a leaked key.
 */
export function createLogger(parameters: CreateLoggerParameters = {}): Logger {
  return pino(
    {
      level: parameters.level ?? "info",
      ...(parameters.name === undefined ? {} : { name: parameters.name }),
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
      // URLs in any text of a line lose their credentials and their path and query (redactUrls):
      // an RPC provider's key sits in the URL's path, and viem quotes the URL in its errors.
      formatters: {
        // Levels as words: "level":"error" reads better than "level":50 in any log viewer.
        level: (label) => ({ level: label }),
        // Errors under `err` and `error` are left to the serialisers below, which keep their type.
        log: (object) =>
          Object.fromEntries(
            Object.entries(object).map(([key, value]) => [
              key,
              value instanceof Error && ERROR_KEYS.has(key) ? value : redactUrlsDeep(value),
            ]),
          ),
        bindings: (bindings) => redactUrlsDeep(bindings),
      },
      serializers: { err: serializeError, error: serializeError },
      hooks: {
        logMethod(args, method) {
          method.apply(this, args.map((arg) => (typeof arg === "string" ? redactUrls(arg) : arg)) as typeof args);
        },
      },
    },
    parameters.destination,
  );
}

export type { Logger };
