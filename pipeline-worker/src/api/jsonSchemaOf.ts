import { z } from "zod";

/**
 * JSON Schema of a wire shape, for Fastify's validator and response serialiser (which lists what
 * may leave the worker): the shapes are declared once, in zod (the `*Wire.ts` modules), and every
 * route's schemas derive from them, so a route's validation and its TypeScript type cannot drift.
 */
export function jsonSchemaOf(schema: z.ZodType) {
  const { $schema: _draft, ...json } = z.toJSONSchema(schema, { target: "draft-7", io: "input" });
  return json as Record<string, unknown> & { properties?: Record<string, Record<string, unknown>> };
}
