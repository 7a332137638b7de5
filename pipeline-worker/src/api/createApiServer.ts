import { randomUUID } from "node:crypto";
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from "fastify";
import type { Logger } from "../internal/createLogger.ts";
import type { Metrics } from "../internal/createMetrics.ts";
import { PROBLEM_CONTENT_TYPE, renderProblem } from "../internal/renderProblem.ts";
import { WorkerError } from "../internal/WorkerError.ts";

export type CreateApiServerParameters = {
  logger: Logger;
  metrics: Metrics;
  /** Absolute URL of docs/errors.md; each problem's `type` points at its code there. */
  docsUrl: string;
  /** Largest request body accepted on JSON routes, in bytes. Upload routes stream and set their own. */
  jsonBodyLimit?: number;
};

/**
 * The worker's HTTP server: Fastify, with a JSON schema on every route (requests are validated
 * before a handler runs, responses are serialised by their schema so nothing unlisted leaks),
 * and every error answered as RFC 9457 problem+json with a stable code. Routes are registered by
 * the stages that own them.
 */
export function createApiServer(parameters: CreateApiServerParameters): FastifyInstance {
  const app = Fastify({
    loggerInstance: parameters.logger as FastifyBaseLogger,
    bodyLimit: parameters.jsonBodyLimit ?? 1024 * 1024,
    genReqId: () => randomUUID(),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  });

  // Upload bodies are streams: the route reads `request.raw` itself, so nothing is buffered here.
  app.addContentTypeParser("application/octet-stream", (_request, _payload, done) => done(null));

  app.setErrorHandler((error: FastifyError | WorkerError, request, reply) => {
    const workerError = toWorkerError(error);
    const problem = renderProblem(workerError, { docsUrl: parameters.docsUrl, instance: `urn:request:${request.id}` });
    parameters.metrics.errors.inc({ code: problem.code });
    if (problem.status >= 500 && problem.code === "INTERNAL") request.log.error({ err: error }, "request failed");
    else request.log.info({ code: problem.code, detail: problem.detail }, "request refused");
    void reply.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(problem);
  });

  app.setNotFoundHandler((request, reply) => {
    const problem = renderProblem(
      new WorkerError("NOT_FOUND", `There is no route ${request.method} ${request.url.split("?")[0]}.`, {
        hints: ["See the worker's README for its routes."],
      }),
      { docsUrl: parameters.docsUrl, instance: `urn:request:${request.id}` },
    );
    void reply.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(problem);
  });

  return app;
}

/** Maps Fastify's own errors (schema validation, body limits, bad JSON) onto stable codes. */
function toWorkerError(error: FastifyError | WorkerError): WorkerError {
  if (error instanceof WorkerError) return error;
  if (error.validation) {
    const first = error.validation[0];
    const field = first?.instancePath ? first.instancePath.slice(1).replaceAll("/", ".") : undefined;
    return new WorkerError("VALIDATION_FAILED", `The request is invalid: ${error.message}.`, {
      hints: ["Check the request against the route's schema in the worker's README."],
      extra: field ? { field } : {},
    });
  }
  switch (error.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new WorkerError("PAYLOAD_TOO_LARGE", "The request body is larger than this route accepts.");
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new WorkerError("VALIDATION_FAILED", `The request body is not acceptable: ${error.message}.`);
  }
  if (error.statusCode === 400 || error instanceof SyntaxError) {
    return new WorkerError("VALIDATION_FAILED", "The request body is not valid JSON.", {
      hints: ["Send a JSON object with Content-Type: application/json."],
    });
  }
  return new WorkerError("INTERNAL", "The worker failed unexpectedly.", { cause: error });
}
