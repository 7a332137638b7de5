import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { createTestClient, http, type TestClient } from "viem";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { repoRoot } from "../deploy/contractArtifacts.ts";
import { rpcReady } from "./createSupervisor.ts";
import { localChainClients, type LocalChainClients } from "./localChain.ts";
import { anvilArguments, anvilBinary } from "./stackServices.ts";

export type StartDevChainParameters = {
  /**
   * Anvil (the default) starts in a moment; a Hardhat node takes seconds to start but mines any
   * number of empty blocks at once, where Anvil builds each one.
   */
  node?: "anvil" | "hardhat";
  /**
   * Anvil only: mines a block every this many seconds besides the blocks transactions get at once,
   * so that a count of blocks measures time as on a live chain. Default: a block per transaction.
   */
  blockTimeSeconds?: number;
};

export type StartedDevChain = LocalChainClients & {
  rpcUrl: string;
  /** Stops the chain; its state is gone. */
  stop(): Promise<void>;
};

/**
 * A throwaway development chain on a free port with the development accounts (the same mnemonic
 * and chain id as the local stack's), for benchmarks: nothing is kept on disk, and `stop` (or this
 * process exiting) ends it. `npm start`'s chain (stackServices) is the one that keeps its state.
 */
export async function startDevChain(parameters: StartDevChainParameters = {}): Promise<StartedDevChain> {
  const node = parameters.node ?? "anvil";
  const port = await freePort();
  const rpcUrl = `http://127.0.0.1:${port}`;
  let command: string;
  let args: string[];
  if (node === "anvil") {
    command = anvilBinary();
    args = [...anvilArguments("127.0.0.1", port), "--silent"];
    if (parameters.blockTimeSeconds !== undefined) {
      args.push("--block-time", String(parameters.blockTimeSeconds), "--mixed-mining");
    }
  } else {
    // Hardhat's default network has the same development mnemonic, accounts and chain id.
    command = process.execPath;
    args = [join(repoRoot, "node_modules", "hardhat", "dist", "src", "cli.js"), "node", "--port", String(port)];
  }
  const child = spawn(command, args, { cwd: repoRoot, stdio: ["ignore", "ignore", "pipe"] });
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const ready = rpcReady(rpcUrl);
  const deadline = Date.now() + 120_000;
  while (!(await ready())) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new BaseError(`The ${node} development chain did not start on ${rpcUrl}.`, {
        details: stderr.trim() || undefined,
        hints: ["Check that `npm install` completed (node_modules/@foundry-rs/anvil, node_modules/hardhat)."],
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const clients = localChainClients(rpcUrl);
  const testClient =
    node === "anvil"
      ? clients.testClient
      : (createTestClient({ chain: clients.chain, transport: http(rpcUrl), mode: "hardhat" }) as unknown as TestClient);
  return {
    ...clients,
    testClient,
    rpcUrl,
    async stop() {
      process.off("exit", killOnExit);
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
