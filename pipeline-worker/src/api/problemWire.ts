import { z } from "zod";

/**
 * An RFC 9457 problem details object, as the worker answers every refusal with
 * `application/problem+json` (internal/renderProblem.ts renders it); declared once for the worker
 * and its clients: the package exports this file as `@dao-ai/pipeline-worker/problem`. Extension
 * members (e.g. `field`, `resetsAt`) follow the standard ones.
 */
export const problemSchema = z.looseObject({
  /** The code's entry in the worker's error catalogue (docs/errors.md). */
  type: z.string(),
  title: z.string(),
  status: z.int(),
  detail: z.string(),
  /** The stable code (docs/errors.md says why it happens and how to fix it). */
  code: z.string(),
  /** Identifies this occurrence (`urn:request:<id>`), for the operator's logs. */
  instance: z.string().optional(),
  /** Whether the same request may succeed later. */
  retryable: z.boolean(),
  hints: z.array(z.string()).optional(),
});
export type Problem = z.infer<typeof problemSchema>;

export const PROBLEM_CONTENT_TYPE = "application/problem+json";
