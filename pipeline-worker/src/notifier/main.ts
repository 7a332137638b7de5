// The notifier: `node pipeline-worker/src/notifier/main.ts` (or `npm run start:notifier -w
// pipeline-worker`). Alerts subscribers by signed webhook and email when the kill switch is
// engaged or lifted and when proposals are created, queued, executed, canceled or about to end.
// Configuration from NOTIFIER_CONFIG (a JSON file) and NOTIFIER_* environment variables; see
// pipeline-worker/README.md, section Alerts. Prints what was wrong and what to do, and exits
// non-zero, when it cannot start.
import { createPublicClient, http, type PublicClient } from "viem";
import { createLogger } from "../internal/createLogger.ts";
import { createShutdown } from "../internal/createShutdown.ts";
import { exitWithError } from "../internal/exitWithError.ts";
import { WorkerError } from "../internal/WorkerError.ts";
import { createNotifier } from "./createNotifier.ts";
import { createNotifierServer } from "./createNotifierServer.ts";
import { loadNotifierConfig } from "./loadNotifierConfig.ts";
import { readNotifierDeployment } from "./readNotifierDeployment.ts";

async function main() {
  const config = loadNotifierConfig();
  const logger = createLogger({ level: config.logLevel, name: "notifier" });
  const deployment = readNotifierDeployment(config.deploymentManifest);
  const client = createPublicClient({ transport: http(config.rpcUrl, { retryCount: 2 }) }) as PublicClient;
  const chainId = await client.getChainId().catch((cause: unknown) => {
    throw new WorkerError("CHAIN_UNAVAILABLE", "The notifier cannot reach its RPC node.", {
      cause,
      hints: ["Check NOTIFIER_RPC_URL and that the node is up."],
    });
  });
  if (chainId !== config.chainId || deployment.chainId !== config.chainId) {
    throw new WorkerError(
      "CONFIG_INVALID",
      `The RPC node is on chain ${chainId} and the manifest for chain ${deployment.chainId}; NOTIFIER_CHAIN_ID is ${config.chainId}.`,
      { hints: ["Point all three at the same chain."] },
    );
  }
  const notifier = await createNotifier({ config, client, deployment, logger });
  const app = createNotifierServer(notifier);
  const shutdown = createShutdown({ logger });
  // Closed in reverse: the HTTP server first, then the notifier and its store.
  shutdown.register("notifier", () => notifier.close());
  shutdown.register("http", () => app.close());
  shutdown.installSignalHandlers();
  const url = await app.listen({ host: config.http.host, port: config.http.port });
  notifier.start();
  const targets = [
    ...config.webhooks.map((w) => w.target),
    ...(config.email?.subscriptions.map((s) => s.target) ?? []),
  ];
  logger.info(
    { url, chainId, governor: deployment.governor, registry: deployment.policyRegistry, subscriptions: targets },
    targets.length === 0
      ? "notifier running with no subscription: alerts are only logged (configure webhooks or email: pipeline-worker/README.md, Alerts)"
      : "notifier running",
  );
}

main().catch(exitWithError);
