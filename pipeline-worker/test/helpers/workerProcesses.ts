import { spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";

const WORKER_SCRIPT = path.join(import.meta.dirname, "..", "inference", "workerProcess.ts");

export type WorkerProcessOptions = {
  index: number;
  count: number;
  rpcUrl: string;
  chainId: number;
  /** The deployment manifest's path. */
  manifest: string;
  dataDir: string;
  privateKey: string;
  /** The chain's time minus this machine's, so the worker sees the epochs the contracts see. */
  clockOffsetMs: number;
  /** More `WORKER_*` (or `TEST_*`) variables: settlement batch and interval, model delay. */
  env?: Record<string, string>;
};

export type WorkerProcess = {
  index: number;
  url: string;
  pid: number;
  process: ChildProcess;
  dataDir: string;
  /** Its stderr and any stdout line that is not its start-up line. */
  log: string[];
  /** Sends `signal` (SIGTERM closes it cleanly, SIGKILL does not) and waits until it has exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
};

/**
 * Starts a worker in a process of its own (`test/inference/workerProcess.ts`: the real assembly
 * with the test's keyword model), configured through WORKER_* variables as an operator would, and
 * resolves with its URL once it listens.
 */
export async function spawnWorkerProcess(options: WorkerProcessOptions): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [WORKER_SCRIPT], {
    env: {
      ...process.env,
      WORKER_RPC_URL: options.rpcUrl,
      WORKER_CHAIN_ID: String(options.chainId),
      WORKER_DEPLOYMENT_MANIFEST: options.manifest,
      WORKER_DATA_DIR: options.dataDir,
      WORKER_HTTP_PORT: "0",
      WORKER_CONFIRMATIONS: "0",
      WORKER_STALENESS_SECONDS: "600",
      WORKER_PRIVATE_KEY: options.privateKey,
      WORKER_INDEX: String(options.index),
      WORKER_COUNT: String(options.count),
      WORKER_LOG_LEVEL: "warn",
      TEST_CLOCK_OFFSET_MS: String(options.clockOffsetMs),
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log: string[] = [];
  child.stderr!.on("data", (chunk: Buffer) => log.push(chunk.toString()));
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`worker ${options.index} did not start:\n${log.join("")}`)),
      60_000,
    );
    child.once("exit", (code) => reject(new Error(`worker ${options.index} exited with ${code}:\n${log.join("")}`)));
    lines.on("line", (line) => {
      if (!line.startsWith("{")) return log.push(line);
      const parsed = JSON.parse(line) as { url?: string };
      if (parsed.url === undefined) return log.push(line);
      clearTimeout(timer);
      resolve(parsed.url);
    });
  });
  return {
    index: options.index,
    url,
    pid: child.pid!,
    process: child,
    dataDir: options.dataDir,
    log,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill(signal);
      await exited;
    },
  };
}

/**
 * A process's resident memory in bytes, by kind, from `/proc/<pid>/status` (Linux); undefined once
 * it has exited. `anonymous` is what the process allocated (V8's heap, native buffers, LevelDB's caches);
 * `files` is mapped files' pages (the executable, libraries, and LevelDB's tables, which it maps to
 * read them): the kernel's page cache, shared and reclaimable, growing as the stores grow.
 */
export async function residentMemory(pid: number): Promise<{ anonymous: number; files: number } | undefined> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => undefined);
  const kB = (field: string) => Number(status?.match(new RegExp(`^${field}:\\s+(\\d+)\\s+kB$`, "m"))?.[1]) * 1024;
  const memory = { anonymous: kB("RssAnon"), files: kB("RssFile") };
  return Object.values(memory).every(Number.isFinite) ? memory : undefined;
}

/** CPU time (user and system) a process has used, in seconds, from `/proc/<pid>/stat` (Linux). */
export async function cpuSeconds(pid: number): Promise<number | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  // The fields after the command name, which is in parentheses and may itself hold spaces.
  const fields = stat?.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (fields === undefined) return undefined;
  // utime and stime are fields 14 and 15 of the whole line, in clock ticks (100 a second on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
