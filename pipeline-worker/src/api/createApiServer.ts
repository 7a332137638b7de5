import { randomUUID } from "node:crypto";
import type { Socket } from "node:net";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from "fastify";
import { DEFAULT_BODY_IDLE_TIMEOUT_MS } from "../internal/configSchema.ts";
import type { Logger } from "../internal/createLogger.ts";
import type { Metrics } from "../internal/createMetrics.ts";
import { renderProblem } from "../internal/renderProblem.ts";
import { WorkerError } from "../internal/WorkerError.ts";
import { PROBLEM_CONTENT_TYPE } from "./problemWire.ts";
import { withIdleTimeout } from "./withIdleTimeout.ts";

export type CreateApiServerParameters = {
  logger: Logger;
  metrics: Metrics;
  /** Absolute URL of docs/errors.md; each problem's `type` points at its code there. */
  docsUrl: string;
  /** Largest request body accepted on JSON routes, in bytes. Upload routes stream and set their own. */
  jsonBodyLimit?: number;
  /** Longest pause in a request body, in milliseconds, before it is refused with REQUEST_TIMEOUT. */
  bodyIdleTimeoutMs?: number | undefined;
};

/**
 * The worker's HTTP server: Fastify, with a JSON schema on every route (requests are validated
 * before a handler runs, responses are serialised by their schema so nothing unlisted leaks),
 * and every error answered as RFC 9457 problem+json with a stable code. Routes are registered by
 * the stages that own them.
 */
export function createApiServer(parameters: CreateApiServerParameters): FastifyInstance {
  const sendProblem = (error: FastifyError | WorkerError, request: FastifyRequest, reply: FastifyReply) => {
    const workerError = toWorkerError(error);
    const problem = renderProblem(workerError, { docsUrl: parameters.docsUrl, instance: `urn:request:${request.id}` });
    parameters.metrics.errors.inc({ code: problem.code });
    if (problem.status >= 500 && problem.code === "INTERNAL") request.log.error({ err: error }, "request failed");
    else request.log.info({ code: problem.code, detail: problem.detail }, "request refused");
    void reply.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(problem);
  };

  const app = Fastify({
    loggerInstance: parameters.logger as FastifyBaseLogger,
    bodyLimit: parameters.jsonBodyLimit ?? 1024 * 1024,
    genReqId: () => randomUUID(),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    // Fastify answers a URL that does not decode, or a path parameter over its length limit, before
    // any route or error handler runs; without these two handlers those answers would be Fastify's
    // own JSON, not problem+json with a documented code.
    frameworkErrors: (error, request, reply) => sendProblem(error, request, reply),
    clientErrorHandler: (error, socket) => answerClientError(error, socket, parameters),
  });

  // Fastify turns Node's requestTimeout off, since a large upload over a slow link may rightly take
  // many minutes; but then a client that sends part of a body and stops would hold its connection
  // for ever. So every body, the JSON that Fastify buffers and the streams that upload routes read,
  // is read through an idle guard, and one that pauses too long is answered 408. Node's socket
  // timeout (Fastify's connectionTimeout) would not do: it also cuts a request that the worker is
  // slow to answer, and it destroys the socket without an answer.
  const bodyIdleTimeoutMs = parameters.bodyIdleTimeoutMs ?? DEFAULT_BODY_IDLE_TIMEOUT_MS;
  app.addHook("preParsing", async (_request, _reply, payload) => withIdleTimeout(payload, bodyIdleTimeoutMs));

  // Upload bodies are streams: the route reads the guarded stream, `request.body`, itself, so
  // nothing is buffered here.
  app.addContentTypeParser("application/octet-stream", (_request, payload, done) => done(null, payload));

  app.setErrorHandler(sendProblem);

  // An answer sent before the request's body has arrived whole (a refusal that cut an upload off,
  // or a GET, HEAD or unknown route, which never reads a body) leaves the rest of it to come on the
  // connection. Node would then wait for those bytes before the next request, with no timeout (the
  // idle guard only watches bodies that are read): a client that stopped would hold the connection
  // for ever, and one that sent another request would wait behind them. So such a connection is
  // closed after the answer.
  // (A callback hook, not an async one: this runs for every answer, and a promise per query
  // showed in the queries bench.)
  app.addHook("onSend", (request, reply, payload, done) => {
    if (!request.raw.complete) void reply.header("connection", "close");
    done(null, payload);
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

/**
 * Answers what Node's HTTP parser refuses before Fastify sees a request (a malformed request line
 * or header, a bad Content-Length or chunk, headers over the size limit, headers that never
 * finish) with a problem+json like every other refusal, then closes the connection, which cannot
 * be trusted to carry another request.
 */
function answerClientError(error: Error & { code?: string }, socket: Socket, parameters: CreateApiServerParameters) {
  // The client is gone: there is no one to answer.
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  const workerError =
    error.code === "HPE_HEADER_OVERFLOW"
      ? new WorkerError(
          "HEADERS_TOO_LARGE",
          "The request's headers (or its URL) are larger than this server accepts.",
          {
            hints: ["Send shorter headers and a shorter URL; no route of this API needs long ones."],
          },
        )
      : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? new WorkerError("REQUEST_TIMEOUT", "The request's headers did not arrive in time.")
        : new WorkerError("VALIDATION_FAILED", "The request is not valid HTTP/1.1.", {
            hints: ["Check the request line, the headers, Content-Length and the chunked encoding of the body."],
            extra: { reason: error.code ?? "unknown" },
          });
  const problem = renderProblem(workerError, {
    docsUrl: parameters.docsUrl,
    instance: `urn:request:${randomUUID()}`,
  });
  parameters.metrics.errors.inc({ code: problem.code });
  parameters.logger.info({ code: problem.code, reason: error.code }, "connection refused");
  if (socket.writable) {
    const body = JSON.stringify(problem);
    socket.write(
      `HTTP/1.1 ${problem.status} ${problem.title}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}

/** Maps Fastify's own errors (schema validation, body limits, bad JSON, bad URLs) onto stable codes. */
export function toWorkerError(error: FastifyError | WorkerError): WorkerError {
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
    case "FST_ERR_BAD_URL":
      return new WorkerError("VALIDATION_FAILED", "The URL is not valid: a percent-escape in it does not decode.", {
        hints: ["Percent-encode the URL's path and query as UTF-8 (encodeURIComponent)."],
      });
    case "FST_ERR_MAX_PARAM_LENGTH":
      return new WorkerError("VALIDATION_FAILED", "A path parameter is longer than any this API takes.", {
        hints: ["Check the id or address in the URL."],
      });
  }
  if (error instanceof SyntaxError || error.code === "FST_ERR_CTP_INVALID_JSON_BODY") {
    return new WorkerError("VALIDATION_FAILED", "The request body is not valid JSON.", {
      hints: ["Send a JSON object with Content-Type: application/json."],
    });
  }
  // Any other refusal Fastify raises about the request itself is the client's to fix.
  if (typeof error.statusCode === "number" && error.statusCode >= 400 && error.statusCode < 500) {
    return new WorkerError("VALIDATION_FAILED", `The request is not acceptable: ${error.message}.`);
  }
  return new WorkerError("INTERNAL", "The worker failed unexpectedly.", { cause: error });
}
