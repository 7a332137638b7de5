import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { repoRoot } from "../deploy/contractArtifacts.ts";
import { tail } from "./createSupervisor.ts";

const UI = join(repoRoot, "governance-ui");

/** The newest modification time of the UI's sources. */
function newestSource(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newestSource(join(path, name))));
}

/**
 * Builds the governance UI with Vite into the stack's own folder when the build is missing or older
 * than the sources, so that stacks never share (or race on) one build and an edited UI is rebuilt.
 */
export async function ensureUiBuilt(parameters: { outDir: string; logFile: string }): Promise<"current" | "built"> {
  const index = join(parameters.outDir, "index.html");
  const sources = Math.max(
    newestSource(join(UI, "src")),
    newestSource(join(UI, "index.html")),
    newestSource(join(UI, "vite.config.ts")),
  );
  if (existsSync(index) && statSync(index).mtimeMs > sources) return "current";
  mkdirSync(join(parameters.logFile, ".."), { recursive: true });
  const fd = openSync(parameters.logFile, "a");
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(
      process.execPath,
      [
        join(repoRoot, "node_modules", "vite", "bin", "vite.js"),
        "build",
        UI,
        "--outDir",
        parameters.outDir,
        "--emptyOutDir",
        "--logLevel",
        "warn",
      ],
      { cwd: repoRoot, stdio: ["ignore", fd, fd] },
    );
    child.once("error", () => resolve(null));
    child.once("exit", resolve);
  });
  closeSync(fd);
  if (code !== 0 || !existsSync(index)) {
    throw new BaseError(
      `Building the governance UI failed. The log (${parameters.logFile}) ends with:\n${tail(parameters.logFile)}`,
    );
  }
  return "built";
}
