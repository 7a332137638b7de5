import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import { bytesToHex } from "viem";

const KEYHOLDER_MAIN = path.resolve(import.meta.dirname, "../../src/keyholder/main.ts");

export type KeyholderProcess = {
  url: string;
  process: ChildProcess;
  /** Kills it as a crash would (SIGKILL) and waits until it is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same key: the same URL answers again. */
  restart(): Promise<KeyholderProcess>;
};

/**
 * A keyholder as an operator runs it (`src/keyholder/main.ts`), in a process of its own, with its
 * key in a file under `directory`. Resolves once it logs the URL it listens on.
 */
export async function startKeyholderProcess(parameters: {
  privateKey: Uint8Array;
  rpcUrl: string;
  chainId: number;
  deploymentManifest: string;
  directory: string;
  name: string;
  port?: number;
}): Promise<KeyholderProcess> {
  const keyFile = path.join(parameters.directory, `${parameters.name}.key`);
  await writeFile(keyFile, `${bytesToHex(parameters.privateKey)}\n`, { mode: 0o600 });
  const child = spawn(process.execPath, [KEYHOLDER_MAIN], {
    env: {
      PATH: process.env.PATH,
      KEYHOLDER_PRIVATE_KEY_FILE: keyFile,
      KEYHOLDER_RPC_URL: parameters.rpcUrl,
      KEYHOLDER_CHAIN_ID: String(parameters.chainId),
      KEYHOLDER_DEPLOYMENT_MANIFEST: parameters.deploymentManifest,
      KEYHOLDER_HTTP_PORT: String(parameters.port ?? 0),
      KEYHOLDER_CONFIRMATIONS: "0",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const errors: string[] = [];
  child.stderr!.on("data", (chunk: Buffer) => errors.push(chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) =>
      reject(new Error(`keyholder ${parameters.name} exited with ${code}: ${errors.join("")}`)),
    );
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const entry = JSON.parse(line) as { msg?: string; url?: string };
      if (entry.msg === "keyholder listening") resolve(entry.url!);
    });
  });
  const self: KeyholderProcess = {
    url,
    process: child,
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
    },
    restart: () => startKeyholderProcess({ ...parameters, port: Number(new URL(url).port) }),
  };
  return self;
}
