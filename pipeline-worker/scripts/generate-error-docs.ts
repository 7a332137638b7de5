// Writes docs/errors.md from the error-code catalogue. Run: npm run generate:errors -w pipeline-worker
import { writeFileSync } from "node:fs";
import { ERROR_DOCS_PATH, formatErrorDocs } from "./formatErrorDocs.ts";

writeFileSync(ERROR_DOCS_PATH, await formatErrorDocs());
console.log(`wrote ${ERROR_DOCS_PATH}`);
