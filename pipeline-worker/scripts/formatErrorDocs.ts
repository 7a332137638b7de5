import { fileURLToPath } from "node:url";
import prettier from "prettier";
import { renderErrorDocs } from "../src/internal/renderErrorDocs.ts";

export const ERROR_DOCS_PATH = fileURLToPath(new URL("../docs/errors.md", import.meta.url));

/**
 * The exact text of docs/errors.md: the catalogue rendered, then formatted with the repository's
 * Prettier settings, so that `prettier --check` and the staleness test agree on one text.
 */
export async function formatErrorDocs(): Promise<string> {
  const options = (await prettier.resolveConfig(ERROR_DOCS_PATH)) ?? {};
  return prettier.format(renderErrorDocs(), { ...options, parser: "markdown" });
}
