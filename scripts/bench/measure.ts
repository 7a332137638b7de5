// Shared by the benchmark sections: timing, medians, percentiles and the section's table type.

/** One table of `npm run bench`: its own columns, since not every figure has a ratio. */
export type BenchSection = {
  title: string;
  columns: string[];
  rows: string[][];
  /** What the figures mean and how they were taken, one sentence each. */
  notes?: string[];
};

export type BenchContext = {
  /** Median of this many runs, where a section repeats. */
  repeats: number;
  /** Progress for long sections: one short line each. */
  progress: (message: string) => void;
};

export function median(values: number[]): number {
  return percentile(values, 50);
}

/** Nearest-rank percentile of `values` (need not be sorted). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) throw new Error("percentile of no values");
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Seconds `run` took. */
export async function time(run: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

export const ratio = (value: number) => (value >= 10 ? value.toFixed(1) : value.toFixed(3));
