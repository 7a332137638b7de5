// Training the embedded model as runTraining does (JSON Lines bytes as they come out of the
// decryption, read line by line, counted per submission, merged once the submission checks out),
// at 10k, 100k and 1M messages: throughput, and peak memory, which must not grow with the number
// of messages.
//
// Run as a script with BENCH_TRAINING_MESSAGES=N, this file is the child process of one row: a
// fresh process per row, so that each row's peak memory is its own.
import { spawn } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { createEmbeddedTrainer } from "@dao-ai/pipeline-worker/createEmbeddedModel";
import { generateScamMessages } from "@dao-ai/pipeline-worker/generateScamMessages";
import { formatTrainingRecords, readTrainingRecords } from "@dao-ai/pipeline-worker/trainingRecords";
import type { BenchContext, BenchSection } from "./measure.ts";

const SIZES = [10_000, 100_000, 1_000_000];
/** Messages per submission: each is counted apart and merged, as runTraining does. */
const SUBMISSION = 10_000;
/** Distinct generated messages, cycled: generating a million would measure the generator, not training. */
const POOL = 20_000;
const MiB = 1024 * 1024;

type Row = { messages: number; seconds: number; maxRssMiB: number; heapHighWaterMiB: number; liveHeapMiB: number };

/**
 * The child's old-generation cap: the rows run within it, which the trainer this replaced (a
 * dense N x 4,096 matrix of doubles, 328 MB at 10k messages) could not.
 */
const HEAP_CAP_MIB = 64;

/** One row, in this process: trains on `messages` generated messages, streamed. */
async function trainOnce(messages: number): Promise<Row> {
  // The submissions' bytes are made before the clock starts, the same in every row.
  const records = generateScamMessages({ seed: 1, count: POOL });
  const submissions = Array.from({ length: POOL / SUBMISSION }, (_, i) =>
    new TextEncoder().encode(formatTrainingRecords(records.slice(i * SUBMISSION, (i + 1) * SUBMISSION))),
  );
  /** A submission's bytes as decryption hands them over: 64 KiB at a time, cut anywhere in a line. */
  function* chunks(bytes: Uint8Array): Generator<Uint8Array> {
    for (let offset = 0; offset < bytes.length; offset += 64 * 1024) yield bytes.subarray(offset, offset + 64 * 1024);
  }
  let heapHighWater = process.memoryUsage().heapUsed;
  const started = process.hrtime.bigint();
  const trainer = createEmbeddedTrainer();
  for (let i = 0; i < messages / SUBMISSION; i++) {
    const submission = createEmbeddedTrainer();
    for await (const record of readTrainingRecords(chunks(submissions[i % submissions.length]!)))
      submission.add(record);
    trainer.merge(submission);
    heapHighWater = Math.max(heapHighWater, process.memoryUsage().heapUsed);
  }
  const weights = trainer.weights();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  // What stays reachable once garbage is collected, the trainer and its weights still held.
  (globalThis as { gc?: () => void }).gc?.();
  const liveHeap = process.memoryUsage().heapUsed;
  if (weights.examples !== messages || trainer.examples !== messages) throw new Error(`trained on ${weights.examples}`);
  return {
    messages,
    seconds,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    heapHighWaterMiB: heapHighWater / MiB,
    liveHeapMiB: liveHeap / MiB,
  };
}

async function child(messages: number): Promise<Row> {
  const process_ = spawn(
    process.execPath,
    ["--expose-gc", `--max-old-space-size=${HEAP_CAP_MIB}`, fileURLToPath(import.meta.url)],
    {
      env: { ...process.env, BENCH_TRAINING_MESSAGES: String(messages) },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  let out = "";
  process_.stdout.on("data", (data: Buffer) => (out += data.toString()));
  const code = await new Promise<number | null>((resolve) => process_.once("close", resolve));
  if (code !== 0) throw new Error(`the training bench child for ${messages} messages exited with ${code}`);
  return JSON.parse(out) as Row;
}

export async function benchTraining(context: BenchContext): Promise<BenchSection> {
  const rows: Row[] = [];
  for (const messages of SIZES) {
    context.progress(`training on ${messages.toLocaleString("en")} messages in a fresh process`);
    const row = await child(messages);
    context.progress(
      `${(row.messages / row.seconds).toFixed(0)} records/s, peak RSS ${row.maxRssMiB.toFixed(0)} MiB, ${row.seconds.toFixed(1)} s`,
    );
    rows.push(row);
  }
  const base = rows[0]!;
  return {
    title: "Training the embedded model (streaming counts)",
    columns: [
      "messages",
      "time (s)",
      "records/s",
      "peak RSS (MiB)",
      "heap high-water (MiB)",
      "live heap after GC (MiB)",
      "peak RSS vs 10k",
      "dense matrix the old trainer built",
    ],
    rows: rows.map((row) => [
      row.messages.toLocaleString("en"),
      row.seconds.toFixed(1),
      (row.messages / row.seconds).toFixed(0),
      row.maxRssMiB.toFixed(0),
      row.heapHighWaterMiB.toFixed(0),
      row.liveHeapMiB.toFixed(1),
      (row.maxRssMiB / base.maxRssMiB).toFixed(2),
      `${((row.messages * 4096 * 8) / 1e9).toFixed(1)} GB`,
    ]),
    notes: [
      "Each row runs in a fresh process: JSON Lines bytes in 64 KiB chunks (as decryption hands them over) are read line by line, featurised (words and word pairs hashed into 4,096 buckets) and counted, 10,000 messages a submission, each submission's counts merged into the model's, then the weights computed: runTraining's path without the decryption and the keyholders.",
      `The messages cycle through ${POOL.toLocaleString("en")} distinct generated ones (made before the clock starts, the same in every row), so that the figures are training's, not the generator's.`,
      `Each child runs with V8's old generation capped at ${HEAP_CAP_MIB} MiB (--max-old-space-size), and the live heap after a full collection is the same at every size: memory is the counts (labels x 4,096 doubles) and one line of input, whatever the number of messages. Peak RSS and the heap's high-water mark drift up a little with the run's length, as garbage waits longer between collections.`,
      `The machine's load average was ${loadavg()[0]!.toFixed(1)} when the rows were done (${cpus().length} cores): read records/s as a floor where it exceeds the cores.`,
      "The last column is what the trainer it replaced (ml-naivebayes over a dense N x 4,096 matrix of doubles) had to allocate.",
    ],
  };
}

if (process.env.BENCH_TRAINING_MESSAGES && process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(JSON.stringify(await trainOnce(Number(process.env.BENCH_TRAINING_MESSAGES))));
}
