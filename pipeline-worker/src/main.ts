// The worker's command line: `node pipeline-worker/src/main.ts` (or `npm run worker`).
// Configuration comes from WORKER_CONFIG (a JSON file) and WORKER_* environment variables; see
// pipeline-worker/README.md. Prints one line saying what was wrong and what to do, and exits
// non-zero, when it cannot start.
import { createWorker } from "./createWorker.ts";
import { exitWithError } from "./internal/exitWithError.ts";
import { createLogger } from "./internal/createLogger.ts";
import { createShutdown } from "./internal/createShutdown.ts";
import { loadConfig } from "./internal/loadConfig.ts";
import { loadModel } from "./model/loadModel.ts";
import type { Model } from "./model/Model.ts";

async function main() {
  const config = loadConfig();
  const logger = createLogger({ level: config.logLevel, name: "worker" });
  // The model comes from WORKER_MODEL_* variables (src/model/loadModel.ts); without one, queries are
  // refused. It is loaded once the worker's content store exists: the committed encrypted weights
  // are read from it and their key asked of the keyholders.
  let model: Model | undefined;
  const worker = await createWorker({
    config,
    logger,
    loadModel: async (context) =>
      (model = await loadModel({
        rpcUrl: config.rpcUrl,
        deploymentManifest: config.deploymentManifest,
        logger,
        ...context,
      })),
  });
  const shutdown = createShutdown({ logger });
  shutdown.register("worker", () => worker.close());
  shutdown.installSignalHandlers();
  const url = await worker.listen();
  logger.info({ url, chainId: config.chainId, model: model?.id ?? null }, "worker listening");
}

main().catch(exitWithError);
