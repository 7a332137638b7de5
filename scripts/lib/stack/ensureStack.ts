import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { repoRoot } from "../deploy/contractArtifacts.ts";
import { isAlive, readJson, readRunningStack, stackPaths, type StackInfo } from "./stackFiles.ts";

/** The last line `npm start` prints once everything runs. */
const READY_LINE = "Press Ctrl-C to stop.";

export type EnsureStackParameters = {
  dataDir: string;
  /** Passed to `npm start` when a stack has to be started. */
  startArgs?: string[];
  /** Each line `npm start` prints, when this starts it. */
  onOutput?: (line: string) => void;
  timeoutMs?: number;
};

export type EnsuredStack = {
  info: StackInfo;
  /** Whether this call started the stack (and `stop` stops it). */
  started: boolean;
  stop(): Promise<void>;
};

/**
 * The stack running from a data directory: the one `npm start` is running, or, if none is, one
 * started here (the same `scripts/start.ts` a user runs) and stopped by `stop`.
 */
export async function ensureStack(parameters: EnsureStackParameters): Promise<EnsuredStack> {
  const paths = stackPaths(parameters.dataDir);
  const timeoutMs = parameters.timeoutMs ?? 300_000;
  const running = readRunningStack(paths.root);
  if (running) {
    const info = await waitForRunning(paths.stack, running.pid, timeoutMs, undefined);
    return { info, started: false, stop: async () => {} };
  }
  const child = spawn(
    process.execPath,
    [join(repoRoot, "scripts", "start.ts"), "--data-dir", paths.root, ...(parameters.startArgs ?? [])],
    { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } },
  );
  // Its output is relayed while it starts and while it stops; in between, the caller has the terminal.
  let relay = true;
  let summaryPrinted = false;
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on("line", (line) => {
      if (line.includes(READY_LINE)) summaryPrinted = true;
      if (relay) parameters.onOutput?.(line);
    });
  }
  const stop = () => {
    relay = true;
    return stopChild(child);
  };
  try {
    const info = await waitForRunning(paths.stack, child.pid!, timeoutMs, child);
    for (let i = 0; i < 40 && !summaryPrinted; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    relay = false;
    return { info, started: true, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function waitForRunning(
  file: string,
  pid: number,
  timeoutMs: number,
  child: ChildProcess | undefined,
): Promise<StackInfo> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = readJson<Partial<StackInfo>>(file);
    if (info?.pid === pid && info.status === "running") return info as StackInfo;
    if (child ? child.exitCode !== null || child.signalCode !== null : !isAlive(pid)) {
      throw new BaseError("The stack stopped before it was running.", {
        hints: ["Its output above says why; run `npm start` on its own to see it."],
      });
    }
    if (Date.now() > deadline) throw new BaseError(`The stack was not running after ${timeoutMs / 1000} s.`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function stopChild(child: ChildProcess) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGINT");
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  await exited;
  clearTimeout(timer);
}
