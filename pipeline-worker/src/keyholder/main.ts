// Keyholder mode: `node pipeline-worker/src/keyholder/main.ts`. Holds one committee key and
// releases its share of a submission's data key only to the operator of a training run the DAO
// approved on chain, and its share of a committed model's weights key only to a worker the DAO
// authorised. Configuration from KEYHOLDER_* environment variables (loadKeyholderConfig.ts).
// Prints one line saying what was wrong and what to do, and exits non-zero, when it cannot start.
import { readFileSync } from "node:fs";
import { createPublicClient, http, type Address, type PublicClient } from "viem";
import { exitWithError } from "../internal/exitWithError.ts";
import { createLogger } from "../internal/createLogger.ts";
import { createShutdown } from "../internal/createShutdown.ts";
import { readPolicyDeployment } from "../policy/readPolicyDeployment.ts";
import { createKeyholderServer } from "./createKeyholderServer.ts";
import { loadKeyholderConfig } from "./loadKeyholderConfig.ts";

async function main() {
  const config = loadKeyholderConfig();
  const logger = createLogger({ level: config.logLevel, name: "keyholder" });
  const deployment = readPolicyDeployment(config.deploymentManifest);
  const { contracts } = JSON.parse(readFileSync(config.deploymentManifest, "utf8")) as {
    contracts: { modelCommitments: Address; contributorRewards: Address };
  };
  const client = createPublicClient({ transport: http(config.rpcUrl) }) as PublicClient;
  const chainId = await client.getChainId();
  if (chainId !== config.chainId || deployment.chainId !== config.chainId) {
    console.error(
      `The RPC node is on chain ${chainId} and the manifest for chain ${deployment.chainId}; KEYHOLDER_CHAIN_ID is ${config.chainId}. Point all three at the same chain.`,
    );
    process.exit(1);
  }
  // Loaded only when configured: the Kubo client is most of a keyholder's start-up time.
  const store = config.kuboUrl
    ? (await import("../storage/createKuboContentStore.ts")).createKuboContentStore({ url: config.kuboUrl })
    : undefined;
  const { app, keyholder } = createKeyholderServer({
    privateKey: config.privateKey,
    client,
    chainId,
    policyRegistry: deployment.policyRegistry,
    // Which model manifest each run committed: weights keys are released for that one only.
    modelCommitments: contracts.modelCommitments,
    // Where contributors withdraw their data: a withdrawn submission's share is never released.
    contributorRewards: contracts.contributorRewards,
    confirmations: config.confirmations,
    maxHeadAgeSeconds: config.maxHeadAgeSeconds,
    store,
    logger,
    bodyIdleTimeoutMs: config.http.bodyIdleTimeoutMs,
    rateLimit: config.rateLimit,
  });
  config.privateKey.fill(0);
  const shutdown = createShutdown({ logger });
  if (store) shutdown.register("store", () => store.close());
  shutdown.register("http", () => app.close());
  shutdown.installSignalHandlers();
  const url = await app.listen({ host: config.http.host, port: config.http.port });
  logger.info({ url, chainId, publicKey: keyholder.publicKey }, "keyholder listening");
}

main().catch(exitWithError);
