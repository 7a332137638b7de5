import { errorCodes, type ErrorCode } from "./errorCodes.ts";

/**
 * Renders the error-code catalogue as Markdown. `docs/errors.md` is this function's output,
 * written by `scripts/generate-error-docs.ts`; a test compares the two so the docs cannot drift
 * from the codes the worker actually answers with.
 */
export function renderErrorDocs(): string {
  const codes = Object.keys(errorCodes) as ErrorCode[];
  const lines = [
    "# Pipeline worker error codes",
    "",
    "<!-- Generated from src/internal/errorCodes.ts by `npm run generate:errors -w pipeline-worker`. Do not edit. -->",
    "",
    "The worker's HTTP API answers every error as an RFC 9457 problem (`application/problem+json`).",
    "Its `code` member is one of the codes below and never changes meaning; its `type` member links to",
    "the code's section here. `retryable: true` means the same request may succeed later unchanged.",
    "",
    "| code | status | title |",
    "| --- | --- | --- |",
    ...codes.map(
      (code) => `| [${code}](#${code.toLowerCase()}) | ${errorCodes[code].status} | ${errorCodes[code].title} |`,
    ),
    "",
  ];
  for (const code of codes) {
    const entry = errorCodes[code];
    lines.push(
      `## ${code}`,
      "",
      `**${entry.title}** — HTTP ${entry.status}, ${entry.retryable ? "retryable" : "not retryable"}.`,
      "",
      `**Why:** ${entry.why}`,
      "",
      `**Fix:** ${entry.fix}`,
      "",
    );
  }
  return lines.join("\n");
}
