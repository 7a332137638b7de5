import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Hex } from "viem";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { repoRoot } from "../lib/deploy/contractArtifacts.ts";
import { line, style, type Demo } from "./story.ts";

/**
 * Runs one of the project's commands as its user would, showing the command and its output.
 * `shown` is how the user types it; `script` and `args` what runs.
 */
export async function command(shown: string, script: string, args: string[], env: Record<string, string> = {}) {
  const quoted = args.map((a) => (/^[\w./:,-]+$/.test(a) ? a : `"${a.replace(/(["\\$`])/g, "\\$1")}"`));
  line(style.dim(`    $ ${shown} ${quoted.join(" ")}`));
  const child = spawn(process.execPath, [join(repoRoot, script), ...args], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  const output: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on("line", (l) => {
      output.push(l);
      line(style.dim(`      ${logLine(l) ?? l}`));
    });
  }
  const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
  if (code !== 0) throw new BaseError(`\`${shown} ${args.join(" ")}\` failed (exit code ${code}).`);
  return output.join("\n");
}

/** A structured log record (pino's JSON) as one short line: its level, message and what it is about. */
function logLine(text: string): string | undefined {
  if (!text.startsWith('{"level"')) return undefined;
  try {
    const record = JSON.parse(text) as { level: string; msg: string; keyholder?: string };
    return `[${record.level}] ${record.msg}${record.keyholder ? ` (${record.keyholder})` : ""}`;
  } catch {
    return undefined;
  }
}

/** A guardian command, run as an owner would. */
export function guardianCommand(d: Demo, args: string[]) {
  return command("npm run guardian --", "scripts/guardian.ts", [...args, "--data-dir", d.dataDir]);
}

/** A consume command, run as the consumer would (its key in CONSUMER_PRIVATE_KEY). */
export function consumeCommand(d: Demo, args: string[], consumerKey: Hex) {
  return command("npm run consume --", "scripts/consume.ts", [...args, "--data-dir", d.dataDir], {
    CONSUMER_PRIVATE_KEY: consumerKey,
  });
}

/** The JSON a command printed last (the training command prints its report as JSON). */
export function lastJson<T>(output: string): T {
  const start = output.lastIndexOf("\n{");
  return JSON.parse(output.slice(start < 0 ? output.indexOf("{") : start + 1)) as T;
}
