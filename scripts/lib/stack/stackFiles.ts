import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Address, Hex } from "viem";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { repoRoot } from "../deploy/contractArtifacts.ts";
import type { SafeDeployment } from "../deploy/deploySafe.ts";
import { manifestPath } from "../deploy/manifest.ts";
import type { StackPorts } from "./stackServices.ts";

/** The default data directory of the local stack: everything `npm start` keeps lives under it. */
export const DEFAULT_DATA_DIR = join(repoRoot, ".data");

/**
 * Where the local stack keeps its state, all under one data directory, so that deleting it starts
 * from scratch and keeping it picks up where the last run stopped.
 */
export function stackPaths(dataDir: string) {
  const root = resolve(dataDir);
  return {
    root,
    /** Anvil's state, dumped on exit and every few seconds, loaded at start. */
    chainState: join(root, "chain", "state.json"),
    /** Which chain the deployment below is on (a block of the deployment), to tell a reset chain. */
    chainRecord: join(root, "chain", "chain.json"),
    manifest: (chainId: number) => manifestPath(chainId, join(root, "deployments")),
    safe: join(root, "deployments", "guardian-safe.json"),
    keyholders: join(root, "keyholders"),
    worker: join(root, "worker"),
    guardian: join(root, "guardian"),
    logs: join(root, "logs"),
    /** The governance UI, built for this stack. */
    ui: join(root, "ui"),
    /** Training run specs and the operator's (private) weights files. */
    training: join(root, "training"),
    /** Which trained model the worker serves: `{ runId, weights }`, written after a training run. */
    model: join(root, "model", "current.json"),
    /** What is running now, where, with which process ids: written by `npm start`, read by the demo. */
    stack: join(root, "stack.json"),
    /** The running stack's control socket (pause and resume a service). */
    control: join(root, "control.sock"),
  };
}

export type StackPaths = ReturnType<typeof stackPaths>;

/**
 * The chain a data directory's deployment lives on, known by a block of the deployment. Not the
 * genesis block: Anvil makes a new genesis block each time it starts, even from a saved state.
 */
export type ChainRecord = { chainId: number; block: { number: string; hash: Hex } };

/** A keyholder of the local committee: its account and its share-wrapping key (the private half in `keyFile`). */
export type KeyholderInfo = { member: Address; accountIndex: number; publicKey: Hex; keyFile: string };

export type StackService = { name: string; url: string; pid?: number };

/** The trained model the stack's worker serves: its run, and the weights file the run wrote. */
export type ModelRecord = { runId: Hex; weights: string };

/** What `npm start` tells other tools (the demo, the tests, the guardian script) about the running stack. */
export type StackInfo = {
  status: "starting" | "running" | "stopped";
  /** The `npm start` process. */
  pid: number;
  host: string;
  ports: StackPorts;
  rpcUrl: string;
  chainId: number;
  manifest: string;
  safe: SafeDeployment;
  keyholders: KeyholderInfo[];
  services: StackService[];
  startedAt: string;
};

export function writeJson(file: string, value: unknown) {
  mkdirSync(join(file, ".."), { recursive: true });
  // Written whole then renamed, so a reader never sees half a file.
  writeFileSync(`${file}.tmp`, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

export function readJson<T>(file: string): T | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, "utf8")) as T;
  } catch (cause) {
    throw new BaseError(`${file} is not valid JSON.`, {
      cause,
      hints: ["Delete it (the stack rebuilds it), or delete the whole data directory to start afresh."],
    });
  }
}

/** Whether a process is alive (signal 0 checks without signalling). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The running stack of a data directory, or undefined if none is running. */
export function readRunningStack(dataDir: string): StackInfo | undefined {
  const info = readJson<StackInfo>(stackPaths(dataDir).stack);
  if (!info || info.status === "stopped" || !isAlive(info.pid)) return undefined;
  return info;
}
