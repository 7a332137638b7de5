import { pino, type DestinationStream, type Logger } from "pino";
import type { LOG_LEVELS } from "./configSchema.ts";

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
      // Levels as words: "level":"error" reads better than "level":50 in any log viewer.
      formatters: { level: (label) => ({ level: label }) },
    },
    parameters.destination,
  );
}

export type { Logger };
