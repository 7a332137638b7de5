import { spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { CONTRACT_SOURCES, repoRoot } from "./contractArtifacts.ts";
import { tail } from "../stack/createSupervisor.ts";
import { isAlive } from "../stack/stackFiles.ts";

/** The newest modification time under a folder of Solidity sources. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Whether every deployed contract has an artifact newer than every contract source. */
function compiledIsCurrent(): boolean {
  const artifacts = Object.entries(CONTRACT_SOURCES).map(([name, source]) =>
    join(repoRoot, "artifacts", source, `${name}.json`),
  );
  if (artifacts.some((a) => !existsSync(a))) return false;
  // Hardhat rewrites the artifacts of what it recompiles, so the newest artifact postdates the last build.
  return Math.max(...artifacts.map((a) => statSync(a).mtimeMs)) > newestSource(join(repoRoot, "contracts"));
}

/**
 * Compiles the contracts when an artifact is missing or older than the sources (the first run,
 * or after an edit), so `npm install && npm start` works on a fresh clone. Stacks starting at the
 * same time (tests) take turns through a lock, so two builds never write the artifacts at once.
 */
export async function ensureCompiled(parameters: { logFile: string; onProgress: (message: string) => void }) {
  if (compiledIsCurrent()) {
    parameters.onProgress("the compiled contracts are current");
    return;
  }
  const lock = join(repoRoot, "artifacts", ".start-build-lock");
  mkdirSync(join(repoRoot, "artifacts"), { recursive: true });
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, "pid"), String(process.pid));
      break;
    } catch {
      const holder = Number(readFileSync(join(lock, "pid"), "utf8").trim() || "0");
      if (holder && !isAlive(holder)) rmSync(lock, { recursive: true, force: true });
      else await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  try {
    if (compiledIsCurrent()) return;
    parameters.onProgress("compiling the contracts (a minute the first time, seconds after an edit)");
    const hardhat = createRequire(import.meta.url)
      .resolve("hardhat/package.json")
      .replace(/package\.json$/, "");
    mkdirSync(join(parameters.logFile, ".."), { recursive: true });
    const fd = openSync(parameters.logFile, "a");
    const code = await new Promise<number | null>((resolve) => {
      // Only the contracts: a Solidity test being edited must not stop the stack from starting.
      const child = spawn(process.execPath, [join(hardhat, "dist", "src", "cli.js"), "build", "--no-tests"], {
        cwd: repoRoot,
        stdio: ["ignore", fd, fd],
      });
      child.once("exit", resolve);
    });
    closeSync(fd);
    if (code !== 0) {
      throw new BaseError(
        `Compiling the contracts failed. The log (${parameters.logFile}) ends with:\n${tail(parameters.logFile)}`,
      );
    }
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
