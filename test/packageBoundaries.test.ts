// The parts of the monorepo meet through each package's public modules (the "exports" of its
// package.json: `@dao-ai/pipeline-worker/<name>`, `@dao-ai/governance-ui/<name>`), never through
// another package's source tree: a module under src/ may be renamed, split or moved without a
// thought for who else reads it, and a wire shape copied or imported from there drifts from the
// one the package serves. This test fails on any import across those lines.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, test } from "vitest";

const repoRoot = path.resolve(import.meta.dirname, "..");

/** Each package's source tree, and the top-level folders that must not import from it. */
const BOUNDARIES = [
  { pkg: "pipeline-worker", checked: ["governance-ui", "scripts", "test"] },
  { pkg: "governance-ui", checked: ["pipeline-worker", "scripts", "test"] },
] as const;

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

/** The imports of `file` (whose text is `source`) that land in `pkg`'s source tree. */
function reachesIntoSource(pkg: string, file: string, source = readFileSync(file, "utf8")): Reach[] {
  const pkgRoot = path.join(repoRoot, pkg);
  const pkgSource = path.join(pkgRoot, "src") + path.sep;
  const found: Reach[] = [];
  for (const pattern of SPECIFIER_PATTERNS) {
    for (const match of source.matchAll(pattern)) {
      const specifier = match[1]!;
      const target = specifier.startsWith(".")
        ? path.resolve(path.dirname(file), specifier)
        : specifier.replace(new RegExp(`^@dao-ai/${pkg}/`), `${pkgRoot}/`);
      if (!target.startsWith(pkgSource)) continue;
      const line = source.slice(0, match.index).split("\n").length;
      found.push({ file: path.relative(repoRoot, file), line, specifier });
    }
  }
  return found;
}

describe("package boundaries", () => {
  const cases = BOUNDARIES.flatMap(({ pkg, checked }) => checked.map((folder) => [folder, pkg] as const));
  test.each(cases)("nothing in %s/ imports %s/src/: it uses the package's exports", (folder, pkg) => {
    const files = sourceFiles(path.join(repoRoot, folder));
    expect(files.length).toBeGreaterThan(10);
    const reaches = files.flatMap((file) => reachesIntoSource(pkg, file));
    expect(
      reaches.map(({ file, line, specifier }) => `${file}:${line} imports ${specifier}`),
      `Import @dao-ai/${pkg}/<name> instead; add the module to the exports of ${pkg}/package.json if it is not there.`,
    ).toEqual([]);
  });

  test("the check sees relative, package-path and dynamic imports into a package's source", () => {
    const probe = path.join(repoRoot, "test", "probe.ts");
    // Spelled in pieces, so that this file does not import what it names.
    const src = ["pipeline-worker", "src"].join("/");
    const text = [
      `import { a } from "../${src}/a.ts";`,
      `import type { B } from "@dao-ai/${src}/b.ts";`,
      `const c = await import("../${src}/c.ts");`,
      'import { fine } from "@dao-ai/pipeline-worker/errors";',
    ].join("\n");
    expect(
      reachesIntoSource("pipeline-worker", probe, text).map(({ line, specifier }) => `${line}: ${specifier}`),
    ).toEqual([
      "1: ../pipeline-worker/src/a.ts",
      "2: @dao-ai/pipeline-worker/src/b.ts",
      "3: ../pipeline-worker/src/c.ts",
    ]);
  });
});
