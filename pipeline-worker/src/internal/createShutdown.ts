import type { Logger } from "pino";
import { BaseError } from "./BaseError.ts";

export type CreateShutdownParameters = {
  logger?: Logger | undefined;
  /** How long each resource may take to close before the next one is closed anyway. */
  timeoutMs?: number;
  /** Called with the exit code once everything is closed; defaults to process.exit. */
  exit?: (code: number) => void;
};

export type Shutdown = {
  /**
   * Registers a resource to close. Resources close in the reverse order of registration: the
   * HTTP server registered last stops taking requests before the journal and stores it writes
   * to, registered first, are closed.
   */
  register(name: string, close: () => Promise<void> | void): void;
  /** Closes everything once; later calls return the same promise. Resolves to the exit code. */
  shutdown(reason: string): Promise<number>;
  /** Runs `shutdown` on SIGINT and SIGTERM; a second signal exits at once. Returns an uninstaller. */
  installSignalHandlers(signals?: readonly NodeJS.Signals[]): () => void;
};

export function createShutdown(parameters: CreateShutdownParameters = {}): Shutdown {
  const resources: { name: string; close: () => Promise<void> | void }[] = [];
  const timeoutMs = parameters.timeoutMs ?? 10_000;
  const exit = parameters.exit ?? ((code: number) => process.exit(code));
  let running: Promise<number> | undefined;

  async function closeAll(reason: string): Promise<number> {
    parameters.logger?.info({ reason }, "shutting down");
    let failed = false;
    for (const resource of resources.toReversed()) {
      try {
        await withTimeout(Promise.resolve().then(resource.close), timeoutMs, resource.name);
        parameters.logger?.debug({ resource: resource.name }, "closed");
      } catch (error) {
        // One resource failing to close must not keep the others open: a journal left unclosed
        // because the HTTP server hung is a journal that may lose its last writes.
        failed = true;
        parameters.logger?.error({ err: error, resource: resource.name }, "failed to close");
      }
    }
    parameters.logger?.info({ reason, clean: !failed }, "shut down");
    return failed ? 1 : 0;
  }

  const api: Shutdown = {
    register(name, close) {
      resources.push({ name, close });
    },
    shutdown(reason) {
      running ??= closeAll(reason);
      return running;
    },
    installSignalHandlers(signals = ["SIGINT", "SIGTERM"]) {
      const onSignal = (signal: NodeJS.Signals) => {
        if (running !== undefined) {
          // An operator who presses Ctrl-C twice wants out now.
          parameters.logger?.warn({ signal }, "second signal: exiting without waiting");
          exit(130);
          return;
        }
        void api.shutdown(signal).then(exit);
      };
      for (const signal of signals) process.on(signal, onSignal);
      return () => {
        for (const signal of signals) process.off(signal, onSignal);
      };
    },
  };
  return api;
}

async function withTimeout(promise: Promise<void>, ms: number, name: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(name, ms)), ms);
  });
  try {
    await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

class TimeoutError extends BaseError {
  override name = "ShutdownTimeoutError";
  constructor(resource: string, ms: number) {
    super(`${resource} did not close within ${ms} ms.`, {
      hints: ["Raise the shutdown timeout if the resource is slow to flush, or look for a hung connection."],
    });
  }
}
