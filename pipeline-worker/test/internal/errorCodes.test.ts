import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { errorCodes } from "../../src/internal/errorCodes.ts";
import { ERROR_DOCS_PATH, formatErrorDocs } from "../../scripts/formatErrorDocs.ts";

describe("error-code catalogue", () => {
  it("has the codes the API promises, each with a status, a title, why and fix", () => {
    for (const code of [
      "KILL_SWITCH_ENGAGED",
      "SUBMITTER_NOT_ALLOWED",
      "ATTESTATION_INSUFFICIENT",
      "ATTESTATION_INVALID",
      "SIGNATURE_INVALID",
      "SIGNATURE_EXPIRED",
      "NONCE_REPLAYED",
      "WRONG_CHAIN",
      "POLICY_STALE",
      "PAYLOAD_TOO_LARGE",
      "DUPLICATE_SUBMISSION",
      "QUOTA_EXHAUSTED",
      "NO_QUOTA",
      "VALIDATION_FAILED",
      "NOT_FOUND",
      "STORAGE_UNAVAILABLE",
      "CHAIN_UNAVAILABLE",
      "INTERNAL",
    ]) {
      expect(errorCodes).toHaveProperty(code);
    }
    for (const [code, entry] of Object.entries(errorCodes)) {
      expect(code).toMatch(/^[A-Z][A-Z0-9_]+$/);
      expect(entry.status, code).toBeGreaterThanOrEqual(400);
      expect(entry.status, code).toBeLessThan(600);
      expect(entry.title.length, code).toBeGreaterThan(5);
      for (const text of [entry.why, entry.fix]) expect(text.length, code).toBeGreaterThan(20);
    }
  });

  it("docs/errors.md is up to date (run `npm run generate:errors -w pipeline-worker` if not)", async () => {
    expect(readFileSync(ERROR_DOCS_PATH, "utf8")).toBe(await formatErrorDocs());
  });

  it("docs/errors.md has a section for every code, at the anchor problem types link to", () => {
    const headings = readFileSync(ERROR_DOCS_PATH, "utf8").match(/^## .+$/gm) ?? [];
    expect(headings).toEqual(Object.keys(errorCodes).map((code) => `## ${code}`));
  });
});

describe("worker source", () => {
  it("throws no bare Error: every thrown error carries a code or at least hints", () => {
    const sourceDir = path.resolve(import.meta.dirname, "../../src");
    const offenders = listFiles(sourceDir)
      .filter((file) => file.endsWith(".ts"))
      .filter((file) => /throw new (Error|TypeError|RangeError)\(/.test(readFileSync(file, "utf8")));
    expect(offenders).toEqual([]);
  });
});

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    return statSync(file).isDirectory() ? listFiles(file) : [file];
  });
}
