// The worker and the keyholder are installed on their own (`npm pack`, then `npm install
// --omit=dev`): every package their source loads at run time must be in this package's
// dependencies, not borrowed from the monorepo root, and nothing outside the package may be
// imported. test/e2e/workerInstall.test.ts installs and starts it for real; this one is the fast
// guard that runs with every `npm test`.
import { readdirSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import path from "node:path";
import { describe, expect, test } from "vitest";

const packageDir = path.resolve(import.meta.dirname, "..");
const manifest = JSON.parse(readFileSync(path.join(packageDir, "package.json"), "utf8")) as {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [full] : [];
  });
}

/** What each file loads at run time: static and dynamic imports and createRequire calls, not `import type`. */
function runtimeSpecifiers(source: string): string[] {
  const found: string[] = [];
  const patterns = [
    /^\s*import\s+(?!type\s)[^;]*?\bfrom\s+"([^"]+)"/gms,
    /^\s*import\s+"([^"]+)"/gm,
    /^\s*export\s+(?!type\s)[^;]*?\bfrom\s+"([^"]+)"/gms,
    /\bimport\(\s*"([^"]+)"\s*\)/g,
    /createRequire\([^)]*\)\(\s*"([^"]+)"/g,
  ];
  for (const pattern of patterns) for (const match of source.matchAll(pattern)) found.push(match[1]!);
  return found;
}

const packageName = (specifier: string) =>
  specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : specifier.split("/")[0]!;

describe("the worker's package", () => {
  const files = sourceFiles(path.join(packageDir, "src"));
  const imports = files.flatMap((file) =>
    runtimeSpecifiers(readFileSync(file, "utf8")).map((specifier) => ({
      file: path.relative(packageDir, file),
      specifier,
    })),
  );

  test("declares every package the worker and the keyholder import at run time", () => {
    const declared = new Set([
      ...Object.keys(manifest.dependencies ?? {}),
      ...Object.keys(manifest.optionalDependencies ?? {}),
    ]);
    const undeclared = imports.filter(
      ({ specifier }) =>
        !specifier.startsWith(".") &&
        !specifier.startsWith("node:") &&
        !builtinModules.includes(specifier) &&
        !declared.has(packageName(specifier)),
    );
    expect(imports.length).toBeGreaterThan(100);
    expect(undeclared).toEqual([]);
  });

  test("imports nothing from outside its own folder, which an installed copy would not have", () => {
    const outside = imports.filter(
      ({ file, specifier }) =>
        specifier.startsWith(".") &&
        !path.resolve(packageDir, path.dirname(file), specifier).startsWith(packageDir + path.sep),
    );
    expect(outside).toEqual([]);
  });
});
