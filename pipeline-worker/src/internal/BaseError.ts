/**
 * The one error class of the worker, shaped after viem's `BaseError`: a short message that fits
 * on one line of a CLI or log, a list of hints that say what to do, and the `cause` kept intact so
 * the original stack is never lost. The `retryable` flag is the split Ponder makes between
 * errors a retry can cure (an RPC node or an IPFS node that is down) and errors it cannot (bad
 * input, a broken invariant): loops that retry look at this flag and nothing else.
 */

export type BaseErrorParameters = {
  /** What to do about it; each hint is one full sentence. */
  hints?: readonly string[] | undefined;
  cause?: unknown;
  /** Whether doing the same thing again later may succeed. Defaults to false. */
  retryable?: boolean | undefined;
  /** Extra detail appended to the long message, e.g. the underlying library's message. */
  details?: string | undefined;
};

export class BaseError extends Error {
  override name = "BaseError";
  readonly shortMessage: string;
  readonly hints: readonly string[];
  readonly retryable: boolean;
  readonly details: string | undefined;

  constructor(shortMessage: string, parameters: BaseErrorParameters = {}) {
    const hints = parameters.hints ?? [];
    // The cause's message is repeated as details so that a log line or a CLI that prints only
    // `message` still shows what went wrong underneath.
    const details =
      parameters.details ??
      (parameters.cause instanceof BaseError
        ? parameters.cause.shortMessage
        : parameters.cause instanceof Error
          ? parameters.cause.message
          : undefined);
    const message = [
      shortMessage,
      ...(hints.length > 0 ? ["", ...hints.map((hint) => `- ${hint}`)] : []),
      ...(details !== undefined && details !== shortMessage ? ["", `Details: ${details}`] : []),
    ].join("\n");
    super(message, parameters.cause === undefined ? undefined : { cause: parameters.cause });
    this.shortMessage = shortMessage;
    this.hints = hints;
    this.retryable = parameters.retryable ?? false;
    this.details = details;
  }

  /**
   * Follows the `cause` chain and returns the first error for which `predicate` holds (or the
   * innermost error when no predicate is given), as viem's `walk` does. Callers use it to ask
   * "was this, somewhere underneath, a timeout?" without knowing how deep the wrapping goes.
   */
  walk(predicate?: (error: unknown) => boolean): unknown {
    return walkCauses(this, predicate);
  }
}

function walkCauses(error: unknown, predicate?: (error: unknown) => boolean): unknown {
  let current: unknown = error;
  const seen = new Set<unknown>();
  while (current !== undefined && !seen.has(current)) {
    if (predicate?.(current)) return current;
    seen.add(current);
    const next: unknown = current instanceof Error ? current.cause : undefined;
    if (next === undefined) return predicate === undefined ? current : undefined;
    current = next;
  }
  return undefined;
}
