// The model-extraction attack of extract-model.ts, over the worker's HTTP API rather than in
// process: the attacker is a consumer that signs EIP-712 queries and POSTs them to a running
// worker's /v1/queries, once with the DAO's default quota and once with a very large one, and
// retrains a copy on the answered labels (random queries). Prints the queries answered and the
// copy's agreement with the real model on held-out messages.
//
//   npx tsx pipeline-worker/scripts/extract-model-api.ts [--quota 5] [--large-quota 10000]
//     [--queries 1000] [--markdown]
//
// Each run starts its own system: Hardhat's in-process chain with the contracts deployed, a
// governance proposal that authorises the worker and sets the consumer's quota (no query fee), and
// a worker serving the embedded model trained on the demo data (2,000 generated messages, seed 1)
// on a local port. The attacker's pool is the first `--queries` of 5,000 messages (seed 3); the
// held-out set is the in-process command's 1,000 messages (seed 2).
import { parseArgs } from "node:util";
import { createEmbeddedModel, trainEmbeddedModel } from "../src/model/createEmbeddedModel.ts";
import { generateScamMessages } from "../src/model/generateScamMessages.ts";
import { runApiExtraction, type ApiExtractionResult } from "./apiExtraction.ts";

const { values } = parseArgs({
  options: {
    quota: { type: "string", default: "5" },
    "large-quota": { type: "string", default: "10000" },
    queries: { type: "string", default: "1000" },
    markdown: { type: "boolean", default: false },
  },
});
const quotas = [Number(values.quota), Number(values["large-quota"])];
const queries = Number(values.queries);
if (![...quotas, queries].every((n) => Number.isInteger(n) && n > 0) || queries > 5000) {
  console.error("--quota and --large-quota take positive whole numbers, --queries one up to 5000.");
  process.exit(2);
}

const started = performance.now();
const target = createEmbeddedModel({ weights: trainEmbeddedModel(generateScamMessages({ seed: 1, count: 2000 })) });
const heldOut = generateScamMessages({ seed: 2, count: 1000 }).map((r) => r.text);
const pool = generateScamMessages({ seed: 3, count: 5000 })
  .map((r) => r.text)
  .slice(0, queries);

const rows: { quota: number; result: ApiExtractionResult; seconds: number }[] = [];
for (const quota of quotas) {
  const start = performance.now();
  const result = await runApiExtraction({ target, quota: BigInt(quota), pool, budget: queries, heldOut, seed: 100 });
  rows.push({ quota, result, seconds: (performance.now() - start) / 1000 });
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const header = ["consumer's quota", "queries answered over the API", "stopped by", "agreement, random queries"];
const table = rows.map(({ quota, result }) => [
  `${quota}/epoch`,
  String(result.answered),
  result.stoppedByQuota ? "QUOTA_EXHAUSTED" : `budget (${queries})`,
  pct(result.agreement),
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
  `\nAgreement of the stolen copy with the real model on ${heldOut.length} held-out messages. ` +
    rows.map((row) => `Quota ${row.quota}: ${row.seconds.toFixed(0)} s.`).join(" ") +
    ` ${((performance.now() - started) / 1000).toFixed(0)} s in all.`,
);
// The in-process chain keeps the event loop alive.
process.exit(0);
