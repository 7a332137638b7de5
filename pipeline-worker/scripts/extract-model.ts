// The model-extraction attack of Tramèr et al. (USENIX Security 2016), run against the embedded
// model through a quota, to measure what governing queries buys. Prints a table of the stolen
// copy's agreement with the real model on held-out messages, per query budget and strategy.
//
//   node pipeline-worker/scripts/extract-model.ts [--quota 5] [--epochs 1,7,30,365] [--pool 5000]
//     [--trials 5] [--markdown]
//
// The target is the embedded model trained on the demo data (2,000 generated messages, seed 1);
// the attacker holds its own 5,000 unlabelled messages of the same kind (seed 3) and queries the
// model through createQuotaLimitedModel: the same label-and-coarse-score answers the worker's
// query route gives, with the per-consumer quota of `--quota` queries per epoch, over `--epochs`
// epochs, and once with no quota. It calls the Model in process rather than over HTTP: signing,
// nonces and settlement change nothing about what the answers reveal, only what they cost.
// extract-model-api.ts runs the same attack over a worker's HTTP query route, signed queries and all.
// The default quota, 5 per epoch, is the first policy's (scripts/start.ts); epochs last a day.
import { parseArgs } from "node:util";
import { createEmbeddedModel, trainEmbeddedModel } from "../src/model/createEmbeddedModel.ts";
import { createQuotaLimitedModel } from "../src/model/createQuotaLimitedModel.ts";
import { generateScamMessages } from "../src/model/generateScamMessages.ts";
import { agreement, extractModel, type ExtractionStrategy } from "./extractionAttack.ts";

const { values } = parseArgs({
  options: {
    quota: { type: "string", default: "5" },
    epochs: { type: "string", default: "1,7,30,365" },
    pool: { type: "string", default: "5000" },
    trials: { type: "string", default: "5" },
    markdown: { type: "boolean", default: false },
  },
});
const quota = Number(values.quota);
const epochs = values.epochs.split(",").map(Number);
const poolSize = Number(values.pool);
const trials = Number(values.trials);
if (![quota, poolSize, trials, ...epochs].every((n) => Number.isInteger(n) && n > 0)) {
  console.error("--quota, --epochs, --pool and --trials take positive whole numbers.");
  process.exit(2);
}

const started = performance.now();
const target = createEmbeddedModel({ weights: trainEmbeddedModel(generateScamMessages({ seed: 1, count: 2000 })) });
const heldOut = generateScamMessages({ seed: 2, count: 1000 });
const pool = generateScamMessages({ seed: 3, count: poolSize }).map((r) => r.text);
const inputs = heldOut.map((r) => r.text);
const scams = heldOut.filter((r) => r.label === "scam").length;
const majority = Math.max(scams, heldOut.length - scams) / heldOut.length;

type Row = {
  limit: string;
  queries: number;
  results: Record<ExtractionStrategy, { mean: number; min: number; max: number }>;
};
const rows: Row[] = [];
const budgets: { limit: string; queriesPerEpoch: number; epochs: number }[] = [
  ...epochs.map((n) => ({
    limit: `quota ${quota}/epoch × ${n} epoch${n === 1 ? "" : "s"}`,
    queriesPerEpoch: quota,
    epochs: n,
  })),
  { limit: "no quota", queriesPerEpoch: Infinity, epochs: 1 },
];
for (const budget of budgets) {
  const results = {} as Row["results"];
  let queries = 0;
  for (const strategy of ["uniform", "adaptive"] as const) {
    const scores: number[] = [];
    // Without a quota either strategy ends up asking about the whole pool, in any order: one run is enough.
    const runs = budget.queriesPerEpoch === Infinity ? 1 : trials;
    for (let trial = 0; trial < runs; trial++) {
      const limited = createQuotaLimitedModel({
        model: target,
        queriesPerEpoch: budget.queriesPerEpoch,
        epochs: budget.epochs,
      });
      // The attacker knows its quota (the policy is public) and plans its queries for it.
      const stolen = await extractModel({
        target: limited,
        pool,
        budget: budget.queriesPerEpoch * budget.epochs,
        strategy,
        seed: 100 + trial,
      });
      queries = stolen.queries;
      scores.push(await agreement(stolen.stolen, target, inputs));
    }
    const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
    results[strategy] = { mean, min: Math.min(...scores), max: Math.max(...scores) };
  }
  rows.push({ limit: budget.limit, queries, results });
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const cell = (r: { mean: number; min: number; max: number }) =>
  r.min === r.max ? pct(r.mean) : `${pct(r.mean)} (${pct(r.min)}–${pct(r.max)})`;
const header = ["queries allowed", "queries made", "agreement, random queries", "agreement, adaptive queries"];
const table = rows.map((row) => [
  row.limit,
  String(row.queries),
  cell(row.results.uniform),
  cell(row.results.adaptive),
]);
if (values.markdown) {
  console.log(`| ${header.join(" | ")} |`);
  console.log(`| ${header.map(() => "---").join(" | ")} |`);
  for (const line of table) console.log(`| ${line.join(" | ")} |`);
} else {
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((line) => line[i]!.length)));
  const format = (line: string[]) => line.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  console.log(format(header));
  for (const line of table) console.log(format(line));
}
console.log(
  `\nAgreement of the stolen copy with the real model on ${inputs.length} held-out messages (mean over ${trials} trials, min–max). ` +
    `Always answering the majority label agrees ${pct(majority)} of the time. ${((performance.now() - started) / 1000).toFixed(0)} s.`,
);
