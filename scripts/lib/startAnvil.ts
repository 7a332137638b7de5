import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { BaseError } from "../../pipeline-worker/src/internal/BaseError.ts";
import { rpcReady } from "./createSupervisor.ts";
import { localChainClients, type LocalChainClients } from "./localChain.ts";
import { anvilArguments, anvilBinary } from "./stackServices.ts";

export type StartAnvilParameters = {
  /**
   * Mines a block every this many seconds besides the blocks transactions get at once, so that a
   * count of blocks measures time as on a live chain. Default: a block only per transaction.
   */
  blockTimeSeconds?: number;
};

export type StartedAnvil = LocalChainClients & {
  rpcUrl: string;
  /** Stops the chain; its state is gone. */
  stop(): Promise<void>;
};

/**
 * A throwaway Anvil on a free port with the development accounts, for benchmarks: nothing is
 * kept on disk, and `stop` ends the process. `npm start`'s chain (stackServices) is the one that
 * keeps its state.
 */
export async function startAnvil(parameters: StartAnvilParameters = {}): Promise<StartedAnvil> {
  const port = await freePort();
  const rpcUrl = `http://127.0.0.1:${port}`;
  const args = [...anvilArguments("127.0.0.1", port), "--silent"];
  if (parameters.blockTimeSeconds !== undefined) {
    args.push("--block-time", String(parameters.blockTimeSeconds), "--mixed-mining");
  }
  const child = spawn(anvilBinary(), args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const ready = rpcReady(rpcUrl);
  for (let attempt = 0; !(await ready()); attempt++) {
    if (child.exitCode !== null || attempt > 200) {
      child.kill("SIGKILL");
      throw new BaseError(`Anvil did not start on ${rpcUrl}.`, {
        details: stderr.trim() || undefined,
        hints: ["Check that node_modules/@foundry-rs/anvil is installed (`npm install`)."],
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    ...localChainClients(rpcUrl),
    rpcUrl,
    async stop() {
      if (child.exitCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}

/** A TCP port nothing listens on now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(address)));
    });
  });
}
