import type { Problem } from "../api/problemWire.ts";
import { errorCodes, type ErrorCode } from "./errorCodes.ts";
import { redactUrls, redactUrlsDeep } from "./redactUrls.ts";
import { WorkerError } from "./WorkerError.ts";

/** A problem as the worker renders it: the wire shape (api/problemWire.ts), with a code of its catalogue. */
export type ProblemDetails = Problem & { code: ErrorCode };

export type RenderProblemParameters = {
  /**
   * The absolute URL of the rendered `docs/errors.md`. The `type` of each problem is this URL
   * with the code's anchor, so a person who sees the code can click through to why and how to
   * fix it. RFC 9457 recommends absolute type URIs.
   */
  docsUrl: string;
  /** Identifies this occurrence (e.g. `urn:request:<id>`), so an operator can find it in the logs. */
  instance?: string | undefined;
};

const STANDARD_MEMBERS = new Set(["type", "title", "status", "detail", "instance", "code", "retryable", "hints"]);

/** The anchor GitHub and most Markdown renderers give the `## CODE` heading in docs/errors.md. */
export function errorDocsAnchor(code: ErrorCode): string {
  return code.toLowerCase();
}

/**
 * Renders any thrown value as a problem+json body. Only `WorkerError`s speak for themselves:
 * anything else becomes INTERNAL with a generic detail, because an unexpected error's message may
 * carry paths, addresses or secrets that the caller must not see (the log keeps the original).
 */
export function renderProblem(error: unknown, parameters: RenderProblemParameters): ProblemDetails {
  const workerError =
    error instanceof WorkerError ? error : new WorkerError("INTERNAL", "The worker failed unexpectedly.");
  const entry = errorCodes[workerError.code];
  const problem: ProblemDetails = {
    type: `${parameters.docsUrl}#${errorDocsAnchor(workerError.code)}`,
    title: entry.title,
    status: entry.status,
    // A message may quote a configured URL (a Kubo node's, with its credentials): only its origin
    // is shown, here where every answer passes, whoever wrote the message.
    detail: redactUrls(workerError.shortMessage),
    code: workerError.code,
    retryable: workerError.retryable,
  };
  if (parameters.instance !== undefined) problem.instance = parameters.instance;
  if (workerError.hints.length > 0) problem.hints = workerError.hints.map(redactUrls);
  // Extension members never override the standard ones: a client must be able to trust `status`
  // and `code` whatever a thrower put in `extra`.
  for (const [key, value] of Object.entries(workerError.extra)) {
    if (!STANDARD_MEMBERS.has(key)) problem[key] = redactUrlsDeep(value);
  }
  return problem;
}
