import { BaseError } from "@dao-ai/pipeline-worker/errors";

export type CreateReporterParameters = {
  /** Where lines go; defaults to stdout. */
  write?: (text: string) => void;
  /** Colours on a terminal, unless NO_COLOR is set. */
  color?: boolean;
};

/**
 * Plain progress lines for the scripts: a step is announced, its details are indented under it,
 * and it ends with a tick and its duration or a cross and the reason. No cursor tricks, so the
 * output reads the same in a terminal, a CI log and a test's captured stdout.
 */
export function createReporter(parameters: CreateReporterParameters = {}) {
  const write = parameters.write ?? ((text: string) => process.stdout.write(text));
  const color = parameters.color ?? (process.stdout.isTTY === true && !process.env.NO_COLOR);
  const paint = (code: string) => (text: string) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
  const style = { bold: paint("1"), dim: paint("2"), green: paint("32"), red: paint("31"), yellow: paint("33") };

  const line = (text = "") => write(`${text}\n`);

  async function step<T>(title: string, run: (detail: (message: string) => void) => Promise<T>): Promise<T> {
    const started = Date.now();
    line(`${style.bold("›")} ${title}`);
    try {
      const result = await run((message) => line(style.dim(`    ${message}`)));
      line(`  ${style.green("✓")} ${title} ${style.dim(`(${((Date.now() - started) / 1000).toFixed(1)} s)`)}`);
      return result;
    } catch (error) {
      line(`  ${style.red("✗")} ${title}`);
      throw error;
    }
  }

  /** A check the story depends on: prints it, and fails the run if it does not hold. */
  function expect(condition: boolean, what: string, otherwise?: string): void {
    if (!condition) {
      line(`    ${style.red("✗")} ${what}`);
      throw new BaseError(`Expected: ${what}${otherwise ? `; ${otherwise}` : ""}.`);
    }
    line(`    ${style.green("✓")} ${what}`);
  }

  function failure(error: unknown): void {
    // A BaseError's message already carries its hints and the cause's message.
    if (error instanceof BaseError) {
      line(style.red(error.message));
    } else {
      line(style.red(String(error instanceof Error ? (error.stack ?? error.message) : error)));
    }
  }

  return { line, step, expect, failure, style };
}

export type Reporter = ReturnType<typeof createReporter>;
