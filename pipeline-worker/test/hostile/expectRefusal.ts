import { readFileSync } from "node:fs";
import { expect } from "vitest";
import { errorCodes, type ErrorCode } from "../../src/internal/errorCodes.ts";
import type { HostileResponse } from "./hostileHttp.ts";
import type { ProblemDetails } from "../../src/internal/renderProblem.ts";

/**
 * The codes and statuses that docs/errors.md documents, read from its table as a client's author
 * would read them (not from the source), so a code the API answers with but the docs lack fails.
 */
export function documentedCodes(): Map<string, number> {
  const docs = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");
  const rows = docs.matchAll(/^\| \[([A-Z0-9_]+)\]\(#([a-z0-9_]+)\) +\| (\d{3}) +\|/gm);
  return new Map([...rows].map(([, code, , status]) => [code!, Number(status)]));
}

const documented = documentedCodes();

/**
 * How many hostile inputs a suite sent. Each suite prints its count once, as its last line, so
 * the figure in the README can be quoted from `npm test` (or `npm run test:soak`) output.
 */
export function createInputTally(suite: string) {
  let count = 0;
  return {
    add(n = 1) {
      count += n;
    },
    get count() {
      return count;
    },
    report() {
      console.log(`hostile inputs tried (${suite}): ${count}; every one refused or answered without a 5xx`);
    },
  };
}

/** How many runs each property gets: about a hundred in `npm test`, many more with SOAK=1. */
export function propertyRuns(soakRuns = 5_000): number {
  return process.env.SOAK ? soakRuns : 100;
}

/** The time one test may take: the default in `npm test`, half an hour for a soak's thousands of runs. */
export const HOSTILE_TEST_TIMEOUT_MS = process.env.SOAK ? 30 * 60_000 : 60_000;

export type Problem = ProblemDetails;

/**
 * Asserts that a response is a refusal a client can act on: a 4xx status (never 5xx), an RFC 9457
 * problem+json body whose `code` is documented in docs/errors.md with this very status, and whose
 * `type` links to that code's section. With `codes`, the code must be one of them.
 */
export function expectRefusal(response: HostileResponse, codes?: readonly ErrorCode[]): Problem {
  const summary = `${response.status} ${response.body.subarray(0, 300).toString("utf8")}`;
  expect(response.status, summary).toBeGreaterThanOrEqual(400);
  expect(response.status, summary).toBeLessThan(500);
  return expectProblem(response, codes);
}

/** Asserts a well-formed problem+json body with a documented code, whatever its status. */
export function expectProblem(response: HostileResponse, codes?: readonly ErrorCode[]): Problem {
  const summary = `${response.status} ${response.body.subarray(0, 300).toString("utf8")}`;
  expect(response.headers["content-type"], summary).toMatch(/^application\/problem\+json/);
  let problem: Problem;
  try {
    problem = JSON.parse(response.body.toString("utf8")) as Problem;
  } catch {
    throw new Error(`The refusal is not JSON: ${summary}`);
  }
  expect(documented.get(problem.code), `${problem.code} is not documented in docs/errors.md: ${summary}`).toBe(
    response.status,
  );
  expect(problem.status, summary).toBe(response.status);
  expect(problem.type, summary).toMatch(new RegExp(`#${problem.code.toLowerCase()}$`));
  expect(typeof problem.detail, summary).toBe("string");
  if (codes) expect(codes, summary).toContain(problem.code);
  return problem;
}

/**
 * Asserts that the service handled a request it may legitimately serve (a read with odd extras):
 * any success, or a refusal as `expectRefusal` demands, but never a 5xx.
 */
export function expectNoServerError(response: HostileResponse): void {
  const summary = `${response.status} ${response.body.subarray(0, 300).toString("utf8")}`;
  expect(response.status, summary).toBeLessThan(500);
  if (response.status >= 400) expectRefusal(response);
}

/** The catalogue in the source and the table in docs/errors.md list the same codes with the same statuses. */
export function catalogueAndDocsAgree(): void {
  expect(Object.fromEntries(documented)).toEqual(
    Object.fromEntries(Object.entries(errorCodes).map(([code, entry]) => [code, entry.status])),
  );
}
