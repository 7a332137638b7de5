// The parts of the monorepo meet through the worker package's public modules (the "exports" of
// pipeline-worker/package.json: `@dao-ai/pipeline-worker/<name>`), never through its source
// tree: a module under pipeline-worker/src/ may be renamed, split or moved without a thought for
// who else reads it, and a wire shape copied or imported from there drifts from the one the
// worker serves. This test fails on any import from the folders below into pipeline-worker/src/.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, test } from "vitest";

const repoRoot = path.resolve(import.meta.dirname, "..");
const workerSource = path.join(repoRoot, "pipeline-worker", "src") + path.sep;

/** The folders whose imports are checked (each a top-level folder of the repository). */
const CHECKED_FOLDERS = ["governance-ui", "test"];

const SOURCE = /\.(ts|tsx|mts|js|mjs)$/;
const SKIPPED = new Set(["node_modules", "dist", "artifacts", "cache"]);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (SKIPPED.has(entry.name)) return [];
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return SOURCE.test(entry.name) && !entry.name.endsWith(".d.ts") ? [full] : [];
  });
}

/** Every module a file names: static imports and re-exports (types too), dynamic imports, requires, vi.mock. */
const SPECIFIER_PATTERNS = [
  /\bfrom\s+["']([^"']+)["']/g,
  /^\s*import\s+["']([^"']+)["']/gm,
  /\bimport\(\s*["']([^"']+)["']\s*\)/g,
  /\brequire\(\s*["']([^"']+)["']\s*\)/g,
  /\bvi\.mock\(\s*["']([^"']+)["']/g,
];

type Reach = { file: string; line: number; specifier: string };

/** The imports of `file` (whose text is `source`) that land in the worker's source tree. */
function reachesIntoWorkerSource(file: string, source = readFileSync(file, "utf8")): Reach[] {
  const found: Reach[] = [];
  for (const pattern of SPECIFIER_PATTERNS) {
    for (const match of source.matchAll(pattern)) {
      const specifier = match[1]!;
      const target = specifier.startsWith(".")
        ? path.resolve(path.dirname(file), specifier)
        : specifier.replace(/^@dao-ai\/pipeline-worker\//, `${path.join(repoRoot, "pipeline-worker")}/`);
      if (!target.startsWith(workerSource)) continue;
      const line = source.slice(0, match.index).split("\n").length;
      found.push({ file: path.relative(repoRoot, file), line, specifier });
    }
  }
  return found;
}

describe("package boundaries", () => {
  test.each(CHECKED_FOLDERS)("nothing in %s/ imports pipeline-worker/src/: it uses the package's exports", (folder) => {
    const files = sourceFiles(path.join(repoRoot, folder));
    expect(files.length).toBeGreaterThan(10);
    const reaches = files.flatMap((file) => reachesIntoWorkerSource(file));
    expect(
      reaches.map(({ file, line, specifier }) => `${file}:${line} imports ${specifier}`),
      "Import @dao-ai/pipeline-worker/<name> instead; add the module to the exports of pipeline-worker/package.json if it is not there.",
    ).toEqual([]);
  });

  test("the check sees relative, package-path and dynamic imports into the worker's source", () => {
    const probe = path.join(repoRoot, "test", "probe.ts");
    // Spelled in pieces, so that this file does not import what it names.
    const src = ["pipeline-worker", "src"].join("/");
    const text = [
      `import { a } from "../${src}/a.ts";`,
      `import type { B } from "@dao-ai/${src}/b.ts";`,
      `const c = await import("../${src}/c.ts");`,
      'import { fine } from "@dao-ai/pipeline-worker/errors";',
    ].join("\n");
    expect(reachesIntoWorkerSource(probe, text).map(({ line, specifier }) => `${line}: ${specifier}`)).toEqual([
      "1: ../pipeline-worker/src/a.ts",
      "2: @dao-ai/pipeline-worker/src/b.ts",
      "3: ../pipeline-worker/src/c.ts",
    ]);
  });
});
