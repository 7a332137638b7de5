import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { getAddress, keccak256, parseEther, toHex } from "viem";
import { policyRegistryAbi, usageSettlementAbi } from "../../../deployments/abis.ts";
import { createUsageStore } from "../../src/inference/createUsageStore.ts";
import type { QueryRequest } from "../../src/inference/createQueryService.ts";
import {
  createInferenceTestSystem,
  type InferenceTestSystem,
  type InferenceTestWorker,
} from "./createInferenceTestSystem.ts";

// Measurements, not checks: off unless asked for, e.g.
// QUERY_BENCH=2000 npx vitest run pipeline-worker/test/inference/queryThroughput.test.ts
const QUERIES = Number(process.env.QUERY_BENCH ?? 0);

let t: InferenceTestSystem | undefined;
afterAll(async () => {
  await t?.cleanUp();
});

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};

describe.runIf(QUERIES > 0)("query throughput", { timeout: 600_000 }, () => {
  it("usage store: records per second, fsync'd, one at a time and concurrent (group commit)", async () => {
    const consumer = getAddress("0x00000000000000000000000000000000000a11ce");
    for (const sync of [true, false]) {
      for (const concurrency of [1, 64]) {
        const directory = await mkdtemp(path.join(tmpdir(), "usage-bench-"));
        const store = await createUsageStore({ directory, sync });
        let nonce = 0n;
        const start = performance.now();
        const lane = async () => {
          while (nonce < BigInt(QUERIES)) {
            const n = nonce++;
            await store.record(
              {
                consumer,
                inputHash: keccak256(toHex(`input ${n}`)),
                nonce: n,
                epoch: 1n,
                deadline: 2_000_000_000n,
                signature: `0x${"ab".repeat(65)}`,
              },
              { answerHash: keccak256(toHex("answer")) },
            );
          }
        };
        await Promise.all(Array.from({ length: concurrency }, lane));
        const seconds = (performance.now() - start) / 1000;
        console.log(
          `usage store sync=${sync} concurrency=${concurrency}: ${QUERIES} records in ${seconds.toFixed(2)} s, ${Math.round(QUERIES / seconds)}/s`,
        );
        await store.close();
        await rm(directory, { recursive: true, force: true });
      }
    }
  });

  it("POST /v1/queries: latency and rate in one worker, fee on (deposit and nonce read on chain)", async () => {
    t = await createInferenceTestSystem({ quota: BigInt(QUERIES) * 4n });
    await t.wait(
      await t.accounts.consumer.writeContract({
        address: t.deployment.contracts.usageSettlement,
        abi: usageSettlementAbi,
        functionName: "deposit",
        args: [t.consumer.address],
        value: parseEther("100"),
      }),
    );
    const worker = await t.startWorker();
    for (const concurrency of [1, 32]) {
      const bodies: QueryRequest[] = [];
      for (let i = 0; i < QUERIES; i++) bodies.push(await t.signQuery({ input: `message number ${i}` }));
      const latencies: number[] = [];
      let next = 0;
      const start = performance.now();
      const lane = async () => {
        while (next < bodies.length) {
          const body = bodies[next++]!;
          const began = performance.now();
          const response = await t!.query(worker, body);
          latencies.push(performance.now() - began);
          expect(response.status).toBe(200);
        }
      };
      await Promise.all(Array.from({ length: concurrency }, lane));
      const seconds = (performance.now() - start) / 1000;
      console.log(
        `queries concurrency=${concurrency}: ${QUERIES} in ${seconds.toFixed(2)} s, ${Math.round(QUERIES / seconds)}/s, p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms`,
      );
    }
  });

  it("settlement: gas per query by batch size", async () => {
    t ??= await createInferenceTestSystem({ quota: BigInt(QUERIES) * 4n });
    for (const batchSize of [1, 10, 50, 200]) {
      await t.reset();
      const worker = await t.startWorker({ inference: { settlementBatchSize: batchSize } });
      const count = Math.max(batchSize, Math.min(200, QUERIES));
      for (let i = 0; i < count; i++) expect((await t.query(worker, await t.signQuery())).status).toBe(200);
      const result = await worker.worker.inference.settle();
      let gas = 0n;
      for (const hash of result.transactions) {
        gas += (await t.publicClient.getTransactionReceipt({ hash })).gasUsed;
      }
      console.log(
        `settle batch=${batchSize}: ${result.settled} queries in ${result.transactions.length} transactions, ${gas / BigInt(result.settled)} gas per query`,
      );
    }
  });

  it("several workers: shares keep the total at the quota; workers not told of each other serve W times it", async () => {
    t ??= await createInferenceTestSystem({ quota: BigInt(QUERIES) * 4n });
    for (const shared of [true, false]) {
      await t.reset();
      await t.pass([
        {
          target: t.deployment.contracts.policyRegistry,
          abi: policyRegistryAbi,
          functionName: "setQuota",
          args: [t.consumer.address, 30n],
        },
      ]);
      await t.clock.sync();
      const workers: InferenceTestWorker[] = [];
      for (let index = 0; index < 3; index++) {
        workers.push(
          await t.startWorker({ index: shared ? index : 0, count: shared ? 3 : 1, wallet: t.workerWallets[0] }),
        );
      }
      const bodies = await Promise.all(Array.from({ length: 120 }, () => t!.signQuery()));
      const responses = await Promise.all(bodies.map((body, i) => t!.query(workers[i % 3]!, body)));
      const served = responses.filter((r) => r.status === 200).length;
      console.log(
        `3 workers, quota 30, ${shared ? "shares (workerCount 3)" : "no shares (workerCount 1 each)"}: served ${served}`,
      );
    }
  });
});
