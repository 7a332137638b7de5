import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BaseError } from "@dao-ai/pipeline-worker/errors";

/** One child process of the stack: what to run, with what, and how to tell it is ready. */
export type ServiceSpec = {
  /** Short and unique: names the log file (`logs/<name>.log`). */
  name: string;
  /** What it is, in words, for the progress lines and the summary. */
  description: string;
  command: string;
  args: string[];
  /** Added to the parent's environment. */
  env?: Record<string, string>;
  /** Where it serves; printed in the summary. */
  url: string;
  /** Resolves true once the service answers; polled until it does. */
  ready: () => Promise<boolean>;
  /** The signal that stops it cleanly. Anvil dumps its state on SIGINT. */
  stopSignal?: NodeJS.Signals;
  /** Milliseconds to wait for readiness. Default 60 s. */
  readyTimeoutMs?: number;
};

export type RunningService = {
  spec: ServiceSpec;
  child: ChildProcess;
  pid: number;
  logFile: string;
  /** Set when the supervisor stops it, so its exit is not taken for a crash. */
  stopRequested: boolean;
};

export type CreateSupervisorParameters = {
  logsDir: string;
  /** A service that was ready has exited without being asked to. */
  onUnexpectedExit: (service: RunningService, code: number | null, signal: NodeJS.Signals | null) => void;
};

/** An HTTP endpoint answers with a 2xx status. */
export function httpReady(url: string): () => Promise<boolean> {
  return async () => {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      return response.ok;
    } catch {
      return false;
    }
  };
}

/** A JSON-RPC endpoint answers eth_chainId. */
export function rpcReady(url: string): () => Promise<boolean> {
  return async () => {
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
        signal: AbortSignal.timeout(2_000),
      });
      return response.ok;
    } catch {
      return false;
    }
  };
}

/** The last lines of a log, to show why a service failed. */
export function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/**
 * Starts the stack's child processes, waits for each to be ready, and stops them in reverse order.
 * Each child runs in its own process group with its output in its own log file: a Ctrl-C in the
 * terminal reaches only the parent, which then stops the children in order (the worker before the
 * chain it reads, the chain last so that it dumps its state), instead of everything at once.
 */
export function createSupervisor(parameters: CreateSupervisorParameters) {
  const running: RunningService[] = [];
  let stopping = false;
  mkdirSync(parameters.logsDir, { recursive: true });

  async function start(spec: ServiceSpec): Promise<RunningService> {
    const logFile = join(parameters.logsDir, `${spec.name}.log`);
    const fd = openSync(logFile, "a");
    let child: ChildProcess;
    try {
      child = spawn(spec.command, spec.args, {
        env: { ...process.env, ...spec.env },
        stdio: ["ignore", fd, fd],
        detached: true,
      });
    } finally {
      closeSync(fd);
    }
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once("exit", (code, signal) => resolve({ code, signal }));
    });
    const spawnError = new Promise<Error>((resolve) => child.once("error", resolve));
    if (child.pid === undefined) {
      const error = await spawnError;
      throw new BaseError(`Cannot start ${spec.description}: ${error.message}.`, { cause: error });
    }
    const service: RunningService = { spec, child, pid: child.pid, logFile, stopRequested: false };
    running.push(service);

    const deadline = Date.now() + (spec.readyTimeoutMs ?? 60_000);
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    void exited.then((e) => (exit = e));
    for (;;) {
      if (exit) {
        running.splice(running.indexOf(service), 1);
        throw new BaseError(
          `${spec.description} exited (${exit.signal ?? `code ${exit.code}`}) before it was ready. Its log (${logFile}) ends with:\n${tail(logFile)}`,
        );
      }
      if (await spec.ready()) break;
      if (Date.now() > deadline) {
        throw new BaseError(
          `${spec.description} was not ready at ${spec.url} after ${Math.round((spec.readyTimeoutMs ?? 60_000) / 1000)} s. Its log (${logFile}) ends with:\n${tail(logFile)}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    void exited.then(({ code, signal }) => {
      const index = running.indexOf(service);
      if (index >= 0) running.splice(index, 1);
      if (!stopping && !service.stopRequested) parameters.onUnexpectedExit(service, code, signal);
    });
    return service;
  }

  async function stopOne(service: RunningService, timeoutMs = 15_000) {
    const { child } = service;
    service.stopRequested = true;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    signalGroup(service.pid, service.spec.stopSignal ?? "SIGTERM");
    const timer = setTimeout(() => signalGroup(service.pid, "SIGKILL"), timeoutMs);
    await exited;
    clearTimeout(timer);
  }

  /** Stops every child, the last started first, each with its own signal; kills any that hangs. */
  async function stopAll(onStopping?: (service: RunningService) => void) {
    stopping = true;
    for (const service of [...running].reverse()) {
      onStopping?.(service);
      await stopOne(service);
    }
    running.length = 0;
  }

  /** Stops one service (to pause it); `start` with its spec starts it again. */
  async function stop(name: string) {
    const service = running.find((s) => s.spec.name === name);
    if (!service) throw new BaseError(`No service named ${name} is running.`);
    await stopOne(service);
    const index = running.indexOf(service);
    if (index >= 0) running.splice(index, 1);
  }

  /** For `process.on("exit")`: nothing asynchronous runs there, so whatever is left is killed at once. */
  function killAllNow() {
    stopping = true;
    for (const service of running) signalGroup(service.pid, "SIGKILL");
  }

  return { start, stop, stopAll, killAllNow, running: running as readonly RunningService[] };
}

export type Supervisor = ReturnType<typeof createSupervisor>;

/** Signals a child's whole process group, so grandchildren (a wrapper's real process) stop too. */
function signalGroup(pid: number, signal: NodeJS.Signals) {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}
