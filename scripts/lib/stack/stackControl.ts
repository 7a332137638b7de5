import { rmSync } from "node:fs";
import { createConnection, createServer, type Server } from "node:net";
import { createInterface } from "node:readline";
import { BaseError } from "@dao-ai/pipeline-worker/errors";

/** What tools may ask a running stack: stop one service for a while, and start it again. */
export type StackCommand = { command: "pause" | "resume"; service: string };

type Reply = { ok: true } | { ok: false; error: string };

/**
 * The running stack's control socket (a Unix socket in the data directory, so only this machine's
 * user reaches it). The demo uses it to pause the worker while the operator's training command
 * uses the worker's embedded IPFS repository, which one process at a time may open.
 */
export function createControlServer(parameters: {
  socketPath: string;
  handle: (command: StackCommand) => Promise<void>;
}): Promise<Server> {
  rmSync(parameters.socketPath, { force: true });
  const server = createServer((socket) => {
    createInterface({ input: socket }).once("line", (text) => {
      let command: StackCommand;
      try {
        command = JSON.parse(text) as StackCommand;
      } catch {
        socket.end(`${JSON.stringify({ ok: false, error: "not JSON" } satisfies Reply)}\n`);
        return;
      }
      parameters.handle(command).then(
        () => socket.end(`${JSON.stringify({ ok: true } satisfies Reply)}\n`),
        (error: unknown) =>
          socket.end(
            `${JSON.stringify({ ok: false, error: error instanceof BaseError ? error.shortMessage : String(error) } satisfies Reply)}\n`,
          ),
      );
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(parameters.socketPath, () => resolve(server));
  });
}

/** Sends a command to a running stack and waits until it is done. */
export async function sendStackCommand(socketPath: string, command: StackCommand): Promise<void> {
  const reply = await new Promise<Reply>((resolve, reject) => {
    const socket = createConnection(socketPath);
    socket.once("error", (cause) =>
      reject(new BaseError(`Cannot reach the stack's control socket ${socketPath}.`, { cause })),
    );
    socket.once("connect", () => socket.write(`${JSON.stringify(command)}\n`));
    createInterface({ input: socket }).once("line", (text) => resolve(JSON.parse(text) as Reply));
  });
  if (!reply.ok) throw new BaseError(`The stack could not ${command.command} ${command.service}: ${reply.error}`);
}
