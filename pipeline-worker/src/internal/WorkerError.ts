import { BaseError, type BaseErrorParameters } from "./BaseError.ts";
import { errorCodes, type ErrorCode } from "./errorCodes.ts";

export type WorkerErrorParameters = BaseErrorParameters & {
  /**
   * Extra members for the problem+json body (RFC 9457 extension members), e.g. the field that
   * failed validation or the policy version that was stale. They must be JSON-serialisable and
   * safe to show to the caller.
   */
  extra?: Record<string, unknown> | undefined;
};

/**
 * An error with a stable `code` from the catalogue. Everything the worker throws on purpose is a
 * `WorkerError`, so that the API, the CLI and the logs can all say the same thing about it.
 * Unless told otherwise, whether it is retryable comes from the catalogue, so that the answer is
 * the same wherever the code is thrown.
 */
export class WorkerError extends BaseError {
  override name = "WorkerError";
  readonly code: ErrorCode;
  readonly extra: Record<string, unknown>;

  constructor(code: ErrorCode, shortMessage: string, parameters: WorkerErrorParameters = {}) {
    super(shortMessage, {
      ...parameters,
      retryable: parameters.retryable ?? errorCodes[code].retryable,
    });
    this.code = code;
    this.extra = parameters.extra ?? {};
  }
}

export function isWorkerError(error: unknown, code?: ErrorCode): error is WorkerError {
  return error instanceof WorkerError && (code === undefined || error.code === code);
}
