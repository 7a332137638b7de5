// Authenticated queries on one core: the real worker, pinned to CPU 0 with a model that answers at
// once, against a bare route on the same HTTP stack that calls the same model directly; the load
// comes from this process, pinned to CPU 1 with the chain.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { chatInputHash, QUERY_HEADERS } from "@dao-ai/pipeline-worker/openai";
import { keccak256, parseEther, toHex, type Address, type Hex } from "viem";
import { policyRegistryAbi, usageSettlementAbi } from "../../deployments/abis.ts";
import { createDigestSigner, secp256k1 } from "../../pipeline-worker/src/chain/signatures.ts";
import { createQueryHasher } from "../../pipeline-worker/src/chain/typedData.ts";
import type { QueryRequest } from "../../pipeline-worker/src/inference/createQueryService.ts";
import { createUsageStore } from "../../pipeline-worker/src/inference/createUsageStore.ts";
import { createBenchSystem } from "../lib/createBenchSystem.ts";
import { repoRoot } from "../lib/contractArtifacts.ts";
import { DEV_ROLES, devPrivateKey } from "../lib/devAccounts.ts";
import { median, percentile, ratio, type BenchContext, type BenchSection } from "./measure.ts";

const TARGET_PER_SECOND = 2_000;
const CONSUMERS = 16;
const QUOTA = 10_000_000n;
const FEE = 1_000_000_000n; // 1 gwei: the deposit check runs, and never refuses.
const CONCURRENCY = 32;
const SETTLEMENT_BATCH_SIZE = 500;
const SECONDS_PER_RUN = Number(process.env.BENCH_QUERY_SECONDS ?? 4);
const LATENCY_SAMPLES = 1_000;
const WORKER_ENTRY = path.join(repoRoot, "scripts", "lib", "noopModelWorker.ts");

type Sent = { status: number; ms: number; body?: string };
type Signed = { body: string; headers?: Record<string, string> };

/** One keep-alive connection per lane, as a client that keeps its connections open would. */
function createLoad(url: string, lanes: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: lanes });
  const { hostname, port } = new URL(url);
  function post(pathname: string, body: string, extraHeaders: Record<string, string> = {}): Promise<Sent> {
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const req = request(
        {
          agent,
          hostname,
          port,
          path: pathname,
          method: "POST",
          headers: {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(body),
            ...extraHeaders,
          },
        },
        (res) => {
          // Only a refusal's body is kept, to say why.
          let text = "";
          if (res.statusCode === 200) res.resume();
          else res.on("data", (chunk: Buffer) => (text += chunk.toString()));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, ms: performance.now() - started, ...(text ? { body: text } : {}) }),
          );
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  }
  return { post, close: () => agent.destroy() };
}

/** CPU seconds (user and system, all threads) process `pid` has used so far, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 a second on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Pins every thread of this process to `cpus` (taskset syntax); returns a function restoring the old mask. */
function pin(cpus: string): () => void {
  const before = execFileSync("taskset", ["-p", String(process.pid)], { encoding: "utf8" })
    .trim()
    .split(/\s+/)
    .pop()!;
  execFileSync("taskset", ["-a", "-p", "-c", cpus, String(process.pid)], { stdio: "ignore" });
  return () => execFileSync("taskset", ["-a", "-p", before, String(process.pid)], { stdio: "ignore" });
}

export async function benchQueries({ repeats, progress }: BenchContext): Promise<BenchSection> {
  const unpin = pin("1");
  const directory = mkdtempSync(path.join(tmpdir(), "bench-queries-"));
  let child: ChildProcess | undefined;
  progress("chain: deploy, authorise the worker, give consumers quotas and deposits");
  const system = await createBenchSystem();
  try {
    const { deployment, publicClient, wallet } = system;
    const { policyRegistry, usageSettlement } = deployment.contracts;
    const workerKey = devPrivateKey(DEV_ROLES.worker);
    const workerAddress = createDigestSigner(workerKey).address;
    const consumers = Array.from({ length: CONSUMERS }, (_, i) =>
      createDigestSigner(keccak256(toHex(`bench consumer ${i}`))),
    );
    const registry = (functionName: string, args: readonly unknown[]) => ({
      target: policyRegistry,
      abi: policyRegistryAbi,
      functionName,
      args,
    });
    await system.pass([
      registry("setWorker", [workerAddress, true]),
      registry("setQueryFee", [FEE]),
      ...consumers.map((c) => registry("setQuota", [c.address, QUOTA])),
    ]);
    for (const consumer of consumers) {
      await system.wait(
        await wallet(DEV_ROLES.consumer).writeContract({
          address: usageSettlement,
          abi: usageSettlementAbi,
          functionName: "deposit",
          args: [consumer.address],
          value: parseEther("10"),
        }),
      );
    }
    const epoch = await publicClient.readContract({
      address: policyRegistry,
      abi: policyRegistryAbi,
      functionName: "currentEpoch",
    });
    const block = await publicClient.getBlock();
    const manifest = path.join(directory, "deployment.json");
    writeFileSync(manifest, JSON.stringify(deployment));

    progress("worker: start it pinned to CPU 0");
    child = spawn("taskset", ["-c", "0", process.execPath, WORKER_ENTRY], {
      env: {
        ...process.env,
        WORKER_CONFIG: "",
        WORKER_RPC_URL: system.rpcUrl,
        WORKER_CHAIN_ID: String(deployment.chainId),
        WORKER_DEPLOYMENT_MANIFEST: manifest,
        WORKER_DATA_DIR: path.join(directory, "worker"),
        WORKER_HTTP_HOST: "127.0.0.1",
        WORKER_HTTP_PORT: "0",
        WORKER_CONFIRMATIONS: "0",
        WORKER_PRIVATE_KEY: workerKey,
        WORKER_LOG_LEVEL: process.env.BENCH_WORKER_LOG_LEVEL ?? "warn",
        // Each settlement is a transaction, and Anvil mines a block for each: larger batches keep
        // the chain from making blocks faster than the policy sync can follow.
        WORKER_SETTLEMENT_BATCH_SIZE: String(SETTLEMENT_BATCH_SIZE),
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const exited = new Promise<never>((_, reject) =>
      child!.once("exit", (code) => reject(new Error(`the worker exited (code ${code}) during the bench`))),
    );
    exited.catch(() => undefined);
    const lines = createInterface({ input: child.stdout! });
    const started = await Promise.race([
      new Promise<{ url: string; baselineUrl: string }>((resolve) =>
        lines.on("line", (line) => {
          if (line.startsWith("{") && line.includes("baselineUrl")) resolve(JSON.parse(line));
        }),
      ),
      exited,
    ]);

    // Signed ahead, so that the load generator spends its core on sending, not signing.
    const hash = createQueryHasher(deployment.chainId, usageSettlement);
    const deadline = block.timestamp + 3_600n;
    const nonces = new Map<Address, bigint>();
    const sign = (i: number): string => {
      const consumer = consumers[i % CONSUMERS]!;
      const nonce = (nonces.get(consumer.address) ?? 0n) + 1n;
      nonces.set(consumer.address, nonce);
      const input = `message number ${i}: claim your prize now`;
      const message = { consumer: consumer.address, inputHash: keccak256(toHex(input)), nonce, epoch, deadline };
      const body: QueryRequest = {
        consumer: consumer.address,
        input,
        nonce: nonce.toString(),
        epoch: epoch.toString(),
        deadline: Number(deadline),
        signature: consumer.sign(hash(message)) as Hex,
      };
      return JSON.stringify(body);
    };
    let signed = 0;
    const signMany = (count: number) => Array.from({ length: count }, () => sign(signed++));
    // The same queries through OpenAI's API: the request body is what is signed (chatInputHash),
    // and the signature travels in headers.
    const signChat = (i: number): Signed => {
      const consumer = consumers[i % CONSUMERS]!;
      const nonce = (nonces.get(consumer.address) ?? 0n) + 1n;
      nonces.set(consumer.address, nonce);
      const request = {
        model: "noop-model",
        messages: [{ role: "user", content: `message number ${i}: claim your prize now` }],
      };
      const message = { consumer: consumer.address, inputHash: chatInputHash(request), nonce, epoch, deadline };
      return {
        body: JSON.stringify(request),
        headers: {
          [QUERY_HEADERS.consumer]: consumer.address,
          [QUERY_HEADERS.nonce]: nonce.toString(),
          [QUERY_HEADERS.epoch]: epoch.toString(),
          [QUERY_HEADERS.deadline]: deadline.toString(),
          [QUERY_HEADERS.signature]: consumer.sign(hash(message)),
        },
      };
    };
    const signManyChats = (count: number) => Array.from({ length: count }, () => signChat(signed++));

    const load = createLoad(started.url, CONCURRENCY);
    const baseline = createLoad(started.baselineUrl, 1);
    try {
      progress("warm-up");
      for (const body of signMany(500)) await load.post("/v1/queries", body);
      for (let i = 0; i < 500; i++) await baseline.post("/model", JSON.stringify({ input: `warm up ${i}` }));

      for (const chat of signManyChats(100)) await load.post("/v1/chat/completions", chat.body, chat.headers);

      // Throughput: CONCURRENCY lanes, each sending its next query as soon as the last is answered.
      const rates: number[] = [];
      const perCpuSecond: number[] = [];
      const chatPerCpuSecond: number[] = [];
      const cpuUse: number[] = [];
      const refusals = new Map<string, number>();
      const refuse = (sent: Sent) => {
        const parsed = sent.body ? (JSON.parse(sent.body) as { code?: string; error?: { code?: string } }) : undefined;
        const code = parsed ? String(parsed.code ?? parsed.error?.code) : `HTTP ${sent.status}`;
        refusals.set(code, (refusals.get(code) ?? 0) + 1);
      };
      /** Sends `bodies` on every lane for SECONDS_PER_RUN; queries served per second and per CPU-second. */
      const throughput = async (pathname: string, bodies: Signed[]) => {
        let next = 0;
        let served = 0;
        const cpuBefore = cpuSeconds(child!.pid!);
        const start = performance.now();
        const end = start + SECONDS_PER_RUN * 1000;
        await Promise.all(
          Array.from({ length: CONCURRENCY }, async () => {
            while (performance.now() < end && next < bodies.length) {
              const { body, headers } = bodies[next++]!;
              const sent = await load.post(pathname, body, headers);
              if (sent.status === 200) served++;
              else refuse(sent);
            }
          }),
        );
        const elapsed = (performance.now() - start) / 1000;
        const used = cpuSeconds(child!.pid!) - cpuBefore;
        return { rate: served / elapsed, perCpuSecond: served / used, cpuUse: used / elapsed };
      };
      for (let run = 0; run < repeats; run++) {
        const bodies = signMany(Math.ceil(SECONDS_PER_RUN * 6_000)).map((body) => ({ body }));
        progress(`throughput run ${run + 1}/${repeats} (${CONCURRENCY} in flight, ${SECONDS_PER_RUN} s)`);
        const queries = await throughput("/v1/queries", bodies);
        rates.push(queries.rate);
        perCpuSecond.push(queries.perCpuSecond);
        cpuUse.push(queries.cpuUse);
        progress(`chat completions run ${run + 1}/${repeats} (${CONCURRENCY} in flight, ${SECONDS_PER_RUN} s)`);
        const chats = await throughput("/v1/chat/completions", signManyChats(Math.ceil(SECONDS_PER_RUN * 6_000)));
        chatPerCpuSecond.push(chats.perCpuSecond);
      }

      // Latency at concurrency 1, the gateway and the bare route alternating in blocks.
      progress(`latency at concurrency 1 (${LATENCY_SAMPLES} queries each, fsync'd writes between)`);
      const gateway: number[] = [];
      const direct: number[] = [];
      const single = createLoad(started.url, 1);
      // The floor under the added latency: each answer waits for its count to be fsync'd. Measured
      // between the blocks, so that it sees the disk as the queries do.
      const store = await createUsageStore({ directory: path.join(directory, "fsync") });
      const fsync: number[] = [];
      const fsyncOnce = async () => {
        const voucher = {
          consumer: consumers[0]!.address,
          inputHash: keccak256(toHex(`fsync ${fsync.length}`)),
          nonce: BigInt(fsync.length),
          epoch,
          deadline,
          signature: `0x${"ab".repeat(65)}` as Hex,
        };
        const started = performance.now();
        await store.record(voucher);
        fsync.push(performance.now() - started);
      };
      const block = 50;
      for (let i = 0; i < LATENCY_SAMPLES; i += block) {
        for (const body of signMany(block)) {
          const sent = await single.post("/v1/queries", body);
          if (sent.status !== 200) refuse(sent);
          gateway.push(sent.ms);
        }
        for (let j = 0; j < block; j++) {
          direct.push(
            (await baseline.post("/model", JSON.stringify({ input: `direct ${i + j}: claim your prize` }))).ms,
          );
        }
        for (let j = 0; j < block / 5; j++) await fsyncOnce();
      }
      single.close();
      await store.close();

      const refused = [...refusals].map(([code, n]) => `${n} ${code}`).join(", ");

      const rate = median(rates);
      const p = (values: number[], q: number) => percentile(values, q);
      const ms = (value: number) => `${value.toFixed(2)} ms`;
      return {
        title: "Queries",
        columns: ["what", "measured", "baseline, same run", "ratio"],
        rows: [
          [
            `authenticated queries per second, worker on one core, ${CONCURRENCY} in flight`,
            `${Math.round(rate)} /s`,
            `target ${TARGET_PER_SECOND} /s`,
            ratio(rate / TARGET_PER_SECOND),
          ],
          [
            "authenticated queries per CPU-second of the worker (its capacity on one free core)",
            `${Math.round(median(perCpuSecond))} /s`,
            `target ${TARGET_PER_SECOND} /s`,
            ratio(median(perCpuSecond) / TARGET_PER_SECOND),
          ],
          [
            "the same through OpenAI's API (POST /v1/chat/completions), per CPU-second of the worker",
            `${Math.round(median(chatPerCpuSecond))} /s`,
            `POST /v1/queries ${Math.round(median(perCpuSecond))} /s`,
            ratio(median(chatPerCpuSecond) / median(perCpuSecond)),
          ],
          [
            "latency p50 at concurrency 1: gateway (added = difference)",
            `${ms(p(gateway, 50))} (added ${ms(p(gateway, 50) - p(direct, 50))})`,
            `model alone over the same HTTP stack ${ms(p(direct, 50))}`,
            ratio(p(gateway, 50) / p(direct, 50)),
          ],
          [
            "under it, the durable count alone: one fsync'd usage-store write, p50, same period",
            ms(p(fsync, 50)),
            "",
            "",
          ],
          [
            "latency p99 at concurrency 1: gateway (added = difference)",
            `${ms(p(gateway, 99))} (added ${ms(p(gateway, 99) - p(direct, 99))})`,
            `model alone over the same HTTP stack ${ms(p(direct, 99))}`,
            ratio(p(gateway, 99) / p(direct, 99)),
          ],
        ],
        notes: [
          `Each query is checked in full: policy, EIP-712 signature (low s), deadline, epoch, nonce, quota share and deposit, counted durably (LevelDB, fsync'd, group commit), receipt signed; ${CONSUMERS} consumers, fee on, settlement running (batches of ${SETTLEMENT_BATCH_SIZE}).`,
          `Signatures are cheap because libsecp256k1 does the curve work (${secp256k1.name} build here: ${secp256k1.name === "native" ? "N-API" : "WebAssembly"}) and the EIP-712 digest is built by hand with the domain separator and type hash computed once; the same digest is the receipt's queryDigest.`,
          "Chain state is not read per query: a consumer's deposit and its 256-nonce word of UsageSettlement's nonce bitmap are read once per head block the policy sync has seen (docs/queries.md gives the bounds).",
          `The worker used ${Math.round(median(cpuUse) * 100)}% of its core during the throughput runs: below 100%, the load generator (sharing CPU 1 with the chain and anything else running) or the fsync wait limited the rate, and queries per CPU-second is the worker's own capacity.`,
          `Refused during the runs (not counted as served): ${refused || "none"}.`,
          `Worker pinned to CPU 0 (taskset), load generator and chain to CPU 1; throughput is the median of ${repeats} runs of ${SECONDS_PER_RUN} s; latency from ${LATENCY_SAMPLES} sequential queries of each kind, alternating in blocks of ${block}.`,
        ],
      };
    } finally {
      load.close();
      baseline.close();
    }
  } finally {
    if (child && child.exitCode === null) {
      const gone = new Promise((resolve) => child!.once("exit", resolve));
      child.kill("SIGTERM");
      await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, 15_000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    await system.stop();
    rmSync(directory, { recursive: true, force: true });
    unpin();
  }
}
