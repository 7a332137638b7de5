// `npm run bench [-- section ...]`: figures users care about, each against a baseline measured in
// the same run where one exists (these machines are noisy), printed as tables and written to
// bench/results.md. Each section lives in scripts/bench/; naming sections runs only those and
// keeps the others' last figures (bench/results.json holds them, with the date they were taken).
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { repoRoot } from "./lib/deploy/contractArtifacts.ts";
import { benchEnforcement } from "./bench/enforcement.ts";
import { benchGas } from "./bench/gas.ts";
import { benchIngest } from "./bench/ingest.ts";
import type { BenchContext, BenchSection } from "./bench/measure.ts";
import { benchQueries } from "./bench/queries.ts";
import { benchSignatures } from "./bench/signatures.ts";
import { benchSync } from "./bench/sync.ts";
import { benchTraining } from "./bench/training.ts";

const sections: Record<string, (context: BenchContext) => Promise<BenchSection>> = {
  enforcement: benchEnforcement,
  gas: benchGas,
  ingest: benchIngest,
  queries: benchQueries,
  signatures: benchSignatures,
  sync: benchSync,
  training: benchTraining,
};

type Stored = { section: BenchSection; takenOn: string; machine: string };

const requested = process.argv.slice(2);
const unknown = requested.filter((name) => !(name in sections));
if (unknown.length > 0) {
  console.error(`Unknown bench section(s): ${unknown.join(", ")}. Sections: ${Object.keys(sections).join(", ")}.`);
  process.exit(2);
}
const names = requested.length > 0 ? requested : Object.keys(sections);
const repeats = Number(process.env.BENCH_REPEATS ?? 5);
const machine = `${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? "unknown CPU"}, node ${process.version}`;

const jsonPath = path.join(repoRoot, "bench", "results.json");
const stored: Record<string, Stored> = existsSync(jsonPath) ? JSON.parse(readFileSync(jsonPath, "utf8")) : {};

for (const name of names) {
  const started = Date.now();
  console.log(`› ${name}`);
  const section = await sections[name]!({ repeats, progress: (message) => console.log(`    ${message}`) });
  stored[name] = { section, takenOn: new Date().toISOString().slice(0, 10), machine };
  console.log(`${renderSection(stored[name])}\n  ✓ ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
}

function renderSection({ section, takenOn, machine }: Stored): string {
  const lines = [section.columns, section.columns.map(() => "---"), ...section.rows].map((r) => `| ${r.join(" | ")} |`);
  const notes = (section.notes ?? []).map((note) => `- ${note}`);
  return [
    `## ${section.title}`,
    "",
    `Taken on ${takenOn}, ${machine}.`,
    "",
    ...lines,
    ...(notes.length ? ["", ...notes] : []),
  ].join("\n");
}

const ordered = Object.keys(sections).filter((name) => stored[name] !== undefined);
const text = `# Benchmarks\n\nWritten by \`npm run bench\` (median of ${repeats} runs where a figure repeats). Ratios compare with a baseline measured in the same run. Regenerate one section with \`npm run bench -- <section>\`; sections: ${Object.keys(sections).join(", ")}.\n\n${ordered.map((name) => renderSection(stored[name]!)).join("\n\n")}\n`;
writeFileSync(jsonPath, `${JSON.stringify(stored, null, 2)}\n`);
writeFileSync(path.join(repoRoot, "bench", "results.md"), text);
console.log(`wrote bench/results.md (${ordered.join(", ")})`);
