import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { createServer } from "node:net";

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** Whether something accepts connections on the port. */
export async function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(true));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(false)));
  });
}

export type NpmRun = {
  child: ChildProcess;
  /** Everything printed so far, stdout and stderr together. */
  output: () => string;
  /** Resolves when the output contains `text`; rejects if the process exits first or time runs out. */
  waitFor: (text: string, timeoutMs: number) => Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends a signal to the whole process group, as a terminal's Ctrl-C does. */
  signal: (signal: NodeJS.Signals) => void;
};

/**
 * Runs `npm <args>` as a user would in a terminal: in its own process group (a terminal's
 * foreground group), so that a Ctrl-C reaches npm and the script it runs, and nothing else.
 */
export function npmRun(args: string[], cwd: string): NpmRun {
  const child = spawn("npm", args, {
    cwd,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1", npm_config_update_notifier: "false" },
  });
  let output = "";
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const waiter of waiters) waiter();
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    output: () => output,
    exited,
    signal: (signal) => process.kill(-child.pid!, signal),
    waitFor: (text, timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (output.includes(text)) done(resolve);
        };
        const done = (f: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          f();
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`"${text}" did not appear within ${timeoutMs} ms. Output:\n${output}`))),
          timeoutMs,
        );
        waiters.add(check);
        void exited.then(({ code, signal }) =>
          done(() =>
            output.includes(text)
              ? resolve()
              : reject(
                  new Error(`npm ${args.join(" ")} exited (${signal ?? code}) before "${text}". Output:\n${output}`),
                ),
          ),
        );
        check();
      }),
  };
}

/**
 * The processes (other than this one) whose command line or environment mentions `text`: a
 * unique temporary directory names every process a stack started from it.
 */
export function processesMentioning(text: string): { pid: number; command: string }[] {
  const found: { pid: number; command: string }[] = [];
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const command = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      let environment = "";
      try {
        environment = readFileSync(`/proc/${pid}/environ`, "utf8");
      } catch {
        // Not ours to read.
      }
      if (command.includes(text) || environment.includes(text)) found.push({ pid, command });
    } catch {
      // Gone in the meantime.
    }
  }
  return found;
}

/**
 * The TCP ports process `pid` listens on: its socket descriptors matched against the kernel's
 * table of listening sockets. In-process servers (the worker, the UI server) show up here.
 */
export function listeningPortsOf(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const match = /^socket:\[(\d+)\]$/.exec(target);
      if (match) inodes.add(match[1]!);
    } catch {
      // Closed in the meantime.
    }
  }
  const ports: number[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let lines: string[] = [];
    try {
      lines = readFileSync(table, "utf8").trim().split("\n").slice(1);
    } catch {
      continue; // No IPv6 on this machine.
    }
    for (const line of lines) {
      const fields = line.trim().split(/\s+/);
      // fields: sl, local address (hex ip:port), remote address, state (0A is LISTEN), ..., inode
      if (fields[3] === "0A" && inodes.has(fields[9]!)) ports.push(parseInt(fields[1]!.split(":")[1]!, 16));
    }
  }
  return ports.sort((a, b) => a - b);
}
