import { readdir } from "node:fs/promises";
import path from "node:path";
import type { Address, PublicClient } from "viem";
import type { Worker } from "../../src/createWorker.ts";
import type { HostileClient } from "./hostileHttp.ts";

/**
 * Everything a hostile request could have left behind in a worker: usage counted or waiting to be
 * settled, submissions journaled, blocks in its IPFS repository, transactions sent from its
 * account, and what its own metrics say it accepted, served, stored or failed on. Two readings
 * taken around hostile input must be equal.
 */
export async function readWorkerState(parameters: {
  worker: Worker;
  dataDir: string;
  client: HostileClient;
  publicClient: PublicClient;
  account: Address;
  consumer?: Address;
  contributor?: Address;
}) {
  const { worker } = parameters;
  const metrics = (await parameters.client.get("/metrics")).body.toString("utf8");
  const metric = (pattern: RegExp) => metrics.match(pattern)?.[1] ?? "0";
  return {
    pendingUsage: worker.inference.store.pendingCount(),
    unsettledOfConsumer: parameters.consumer ? worker.inference.store.unsettled(parameters.consumer).toString() : "0",
    unfinishedSubmissions: (await worker.journal.listUnfinished()).length,
    submissionsOfContributor: parameters.contributor
      ? (await worker.journal.listByContributor(parameters.contributor.toLowerCase())).length
      : 0,
    blocks: await countFiles(path.join(parameters.dataDir, "ipfs", "blocks")),
    transactionsSent: await parameters.publicClient.getTransactionCount({ address: parameters.account }),
    queriesServed: metric(/^worker_queries_total\{outcome="served"\} (\d+)/m),
    submissionsAccepted: metric(/^worker_submissions_total\{outcome="accepted"\} (\d+)/m),
    submissionsStored: metric(/^worker_submissions_total\{outcome="stored"\} (\d+)/m),
    internalErrors: metric(/^worker_errors_total\{code="INTERNAL"\} (\d+)/m),
  };
}

export type WorkerState = Awaited<ReturnType<typeof readWorkerState>>;

async function countFiles(directory: string): Promise<number> {
  try {
    const entries = await readdir(directory, { recursive: true, withFileTypes: true });
    return entries.filter((entry) => entry.isFile()).length;
  } catch {
    return 0;
  }
}
