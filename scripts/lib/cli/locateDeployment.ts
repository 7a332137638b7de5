import { existsSync } from "node:fs";
import { relative } from "node:path";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { DEFAULT_DATA_DIR, readJson, stackPaths, type StackInfo } from "../stack/stackFiles.ts";
import { LOCAL_CHAIN_ID } from "../stack/stackServices.ts";

export type DeploymentLocation = {
  /** Whether the CLI was pointed at another chain (--rpc-url and --manifest) rather than the local stack. */
  remote: boolean;
  rpcUrl: string;
  manifestFile: string;
  /** The local stack's worker, when the stack runs one. */
  stackWorkerUrl?: string | undefined;
};

/**
 * Where a CLI's deployment is: the chain and manifest it was given, or else the local stack that
 * `npm start` runs in `dataDir`, with a clear error when there is neither.
 */
export function locateDeployment(options: {
  rpcUrl?: string | undefined;
  manifest?: string | undefined;
  dataDir?: string | undefined;
  /** The options that name another chain, for the hint when there is no local stack. */
  remoteOptions?: string;
}): DeploymentLocation {
  if (options.rpcUrl !== undefined || options.manifest !== undefined) {
    if (!options.rpcUrl || !options.manifest) {
      throw new BaseError("--rpc-url and --manifest go together.", {
        hints: ["Pass the chain's RPC endpoint and the manifest `npm run deploy` wrote for it."],
      });
    }
    return { remote: true, rpcUrl: options.rpcUrl, manifestFile: options.manifest };
  }
  const paths = stackPaths(options.dataDir ?? DEFAULT_DATA_DIR);
  const manifestFile = paths.manifest(LOCAL_CHAIN_ID);
  if (!existsSync(manifestFile)) {
    throw new BaseError(`No local stack in ${relative(process.cwd(), paths.root) || "."}.`, {
      hints: [
        "Start it with `npm start` (or pass the --data-dir it uses).",
        `For another chain, pass ${options.remoteOptions ?? "--rpc-url and --manifest"}.`,
      ],
    });
  }
  const stack = readJson<Partial<StackInfo>>(paths.stack);
  return {
    remote: false,
    rpcUrl: stack?.rpcUrl ?? "http://127.0.0.1:8545",
    manifestFile,
    stackWorkerUrl: stack?.services?.find((s) => s.name === "worker")?.url,
  };
}
