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
  peerDependencies?: Record<string, string>;
};

/** The services an operator runs from an installed copy. */
const SERVICE_ENTRY_POINTS = ["src/main.ts", "src/keyholder/main.ts", "src/notifier/main.ts"];

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
      ...Object.keys(manifest.peerDependencies ?? {}),
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

  // Modules exported for the CLI and the UI only (the Safe transactions) may use an optional peer
  // dependency those bring; no service may load them, as a production install lacks the peer.
  test("no service loads a module that needs a peer dependency a production install lacks", () => {
    const peers = new Set(Object.keys(manifest.peerDependencies ?? {}));
    const reached = new Set<string>();
    const pending = [...SERVICE_ENTRY_POINTS];
    while (pending.length > 0) {
      const file = pending.pop()!;
      if (reached.has(file)) continue;
      reached.add(file);
      for (const { specifier } of imports.filter((entry) => entry.file === file)) {
        if (specifier.startsWith(".")) pending.push(path.join(path.dirname(file), specifier));
      }
    }
    const loadedPeers = imports.filter(({ file, specifier }) => reached.has(file) && peers.has(packageName(specifier)));
    expect(reached.size).toBeGreaterThan(100);
    expect(loadedPeers).toEqual([]);
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
