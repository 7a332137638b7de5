import type { FastifyRequest } from "fastify";
import { WorkerError } from "../internal/WorkerError.ts";

/**
 * An `onRequest` hook for the routes that stream their body from the socket (uploads, run specs).
 * They lift Fastify's body limit, because they bound the stream themselves; a body in any other
 * content type would be buffered whole by Fastify's JSON or text parser first, with no limit at
 * all. So anything but `application/octet-stream` is refused before a byte of the body is read.
 */
export async function requireOctetStream(request: FastifyRequest): Promise<void> {
  const type = request.headers["content-type"]?.split(";")[0]?.trim().toLowerCase();
  if (type !== "application/octet-stream") {
    throw new WorkerError("VALIDATION_FAILED", "This route takes the raw bytes as application/octet-stream.", {
      hints: ["Send the body with Content-Type: application/octet-stream."],
      extra: { field: "content-type" },
    });
  }
}
