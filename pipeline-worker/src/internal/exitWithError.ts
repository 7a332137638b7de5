import { BaseError } from "./BaseError.ts";
import { redactUrls } from "./redactUrls.ts";

/**
 * Ends a command that failed: one line saying what was wrong and what to do (a BaseError's message
 * carries its hints; anything else shows its stack), then exit status 1. The line may quote a
 * configured URL (a failed RPC call), so it is printed without credentials or path keys.
 */
export function exitWithError(error: unknown): never {
  console.error(
    redactUrls(
      error instanceof BaseError
        ? error.message
        : error instanceof Error
          ? (error.stack ?? String(error))
          : String(error),
    ),
  );
  process.exit(1);
}
