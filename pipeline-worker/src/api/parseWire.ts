import type { z } from "zod";
import { WorkerError } from "../internal/WorkerError.ts";

/**
 * Parses a request's body with its wire schema, after Fastify has checked it against the JSON
 * Schema derived from the same schema: what JSON Schema cannot say (a decimal string's value
 * within its uint64 or uint256) is refused here, with VALIDATION_FAILED naming the field as
 * Fastify's own refusals do, rather than failing deeper as an internal error.
 */
export function parseWire<Schema extends z.ZodType>(schema: Schema, value: unknown): z.output<Schema> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.join(".");
  throw new WorkerError("VALIDATION_FAILED", `The request is invalid: ${field || "the body"} ${issue.message}.`, {
    hints: ["Check the request against the route's schema in the worker's README."],
    extra: field ? { field } : {},
  });
}
