// Authenticated queries on one core: the real worker, pinned to CPU 0 with a model that answers at
// once, against a bare route on the same HTTP stack that calls the same model directly; the load
// comes from this process, pinned to CPU 1 with the chain. Two ways a consumer authenticates: an
// API key (`Authorization: Bearer`, no curve work per request) and a signed Usage voucher.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { bearerTokenOf, type RegisterKeyRequest, type SignedQueryRequest } from "@dao-ai/pipeline-worker/consumer-api";
import { createKeyGrantHasher, createUsageHasher } from "@dao-ai/pipeline-worker/eip712";
import { getAddress, keccak256, parseEther, toHex, zeroAddress, type Address, type Hex } from "viem";
import { policyRegistryAbi, usageSettlementAbi } from "../../deployments/abis.ts";
import { createDigestSigner, secp256k1, createUsageStore } from "@dao-ai/pipeline-worker/bench";
import { createBenchSystem } from "../lib/bench/createBenchSystem.ts";
import { repoRoot } from "../lib/deploy/contractArtifacts.ts";
import { DEV_ROLES, devPrivateKey } from "../lib/stack/devAccounts.ts";
import { median, percentile, ratio, type BenchContext, type BenchSection } from "./measure.ts";

/** The targets per CPU-second of one worker: with an API key, and with a signed voucher. */
const TARGET_BEARER_PER_SECOND = 5_000;
const TARGET_SIGNED_PER_SECOND = 2_000;
const CONSUMERS = 16;
const QUOTA = 10_000_000n;
const FEE = 1_000_000_000n; // 1 gwei: the deposit and fee checks run, and never refuse.
const CONCURRENCY = 32;
const SECONDS_PER_RUN = Number(process.env.BENCH_QUERY_SECONDS ?? 4);
const LATENCY_SAMPLES = 1_000;
const WORKER_ENTRY = path.join(repoRoot, "scripts", "lib", "bench", "noopModelWorker.ts");

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
    const head = await publicClient.getBlock();
    const manifest = path.join(directory, "deployment.json");
    writeFileSync(manifest, JSON.stringify(deployment));

    progress("worker: start it pinned to CPU 0");
    // BENCH_WORKER_NODE_ARGS passes Node flags to the worker alone, e.g. "--cpu-prof --cpu-prof-dir=prof"
    // to profile what it does per query (NODE_OPTIONS refuses --cpu-prof).
    const nodeArgs = (process.env.BENCH_WORKER_NODE_ARGS ?? "").split(" ").filter(Boolean);
    child = spawn("taskset", ["-c", "0", process.execPath, ...nodeArgs, WORKER_ENTRY], {
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

    const worker = getAddress(workerAddress);
    const load = createLoad(started.url, CONCURRENCY);
    const baseline = createLoad(started.baselineUrl, CONCURRENCY);
    try {
      // Each consumer authorises one API key (one signature over its KeyGrant) and registers it.
      progress(`keys: ${CONSUMERS} consumers each sign a grant and register it (POST /v1/keys)`);
      const hashGrant = createKeyGrantHasher(deployment.chainId, usageSettlement);
      const tokens: string[] = [];
      for (const [i, consumer] of consumers.entries()) {
        const keyPrivate = keccak256(toHex(`bench key ${i}`));
        const grant = {
          consumer: consumer.address,
          key: createDigestSigner(keyPrivate).address,
          worker: zeroAddress,
          maxQueries: QUOTA,
          maxFeePerQuery: FEE,
          expiresAt: head.timestamp + 30n * 86_400n,
        };
        const request: RegisterKeyRequest = {
          grant: {
            ...grant,
            maxQueries: grant.maxQueries.toString(),
            maxFeePerQuery: grant.maxFeePerQuery.toString(),
            expiresAt: grant.expiresAt.toString(),
          },
          signature: consumer.sign(hashGrant(grant)) as Hex,
        };
        const registered = await load.post("/v1/keys", JSON.stringify(request));
        if (registered.status !== 200 && registered.status !== 201) {
          throw new Error(`registering bench key ${i} failed: ${registered.status} ${registered.body ?? ""}`);
        }
        tokens.push(bearerTokenOf(keyPrivate));
      }

      // Signed ahead, so that the load generator spends its core on sending, not signing: each
      // consumer's lane at this worker takes the next total.
      const hashUsage = createUsageHasher(deployment.chainId, usageSettlement);
      const deadline = head.timestamp + 3_600n;
      const totals = new Map<Address, bigint>();
      let made = 0;
      const signed = (): Signed => {
        const i = made++;
        const consumer = consumers[i % CONSUMERS]!;
        const total = (totals.get(consumer.address) ?? 0n) + 1n;
        totals.set(consumer.address, total);
        const input = `message number ${i}: claim your prize now`;
        const inputHash = keccak256(toHex(input));
        const usage = {
          consumer: consumer.address,
          key: zeroAddress,
          worker,
          epoch,
          total,
          maxFeePerQuery: FEE,
          inputHash,
          deadline,
        };
        const body: SignedQueryRequest = {
          consumer: consumer.address,
          input,
          epoch: epoch.toString(),
          total: total.toString(),
          maxFeePerQuery: FEE.toString(),
          deadline: Number(deadline),
          signature: consumer.sign(hashUsage(usage)) as Hex,
        };
        return { body: JSON.stringify(body) };
      };
      // With a key nothing is signed: the body is the input, the key is the bearer token.
      const bearer = (): Signed => {
        const i = made++;
        return {
          body: JSON.stringify({ input: `message number ${i}: claim your prize now` }),
          headers: { authorization: `Bearer ${tokens[i % CONSUMERS]}` },
        };
      };
      const bearerChat = (): Signed => {
        const i = made++;
        return {
          body: JSON.stringify({
            model: "noop-model",
            messages: [{ role: "user", content: `message number ${i}: claim your prize now` }],
          }),
          headers: { authorization: `Bearer ${tokens[i % CONSUMERS]}` },
        };
      };
      const bare = (): Signed => ({
        body: JSON.stringify({ input: `message number ${made++}: claim your prize now` }),
      });
      const many = (make: () => Signed, count: number) => Array.from({ length: count }, make);

      progress("warm-up");
      for (const sent of many(signed, 300)) await load.post("/v1/queries", sent.body);
      for (const sent of many(bearer, 300)) await load.post("/v1/queries", sent.body, sent.headers);
      for (const sent of many(bearerChat, 100)) await load.post("/v1/chat/completions", sent.body, sent.headers);
      for (const sent of many(bare, 300)) await baseline.post("/model", sent.body);

      const refusals = new Map<string, number>();
      const refuse = (sent: Sent) => {
        const parsed = sent.body ? (JSON.parse(sent.body) as { code?: string; error?: { code?: string } }) : undefined;
        const code = parsed ? String(parsed.code ?? parsed.error?.code) : `HTTP ${sent.status}`;
        refusals.set(code, (refusals.get(code) ?? 0) + 1);
      };
      /** Sends `bodies` on CONCURRENCY lanes for SECONDS_PER_RUN; served per second and per worker CPU-second. */
      const throughput = async (client: ReturnType<typeof createLoad>, pathname: string, bodies: Signed[]) => {
        let next = 0;
        let served = 0;
        const cpuBefore = cpuSeconds(child!.pid!);
        const start = performance.now();
        const end = start + SECONDS_PER_RUN * 1000;
        await Promise.all(
          Array.from({ length: CONCURRENCY }, async () => {
            while (performance.now() < end && next < bodies.length) {
              const { body, headers } = bodies[next++]!;
              const sent = await client.post(pathname, body, headers);
              if (sent.status === 200) served++;
              else refuse(sent);
            }
          }),
        );
        const elapsed = (performance.now() - start) / 1000;
        const used = cpuSeconds(child!.pid!) - cpuBefore;
        return { rate: served / elapsed, perCpuSecond: served / used, cpuUse: used / elapsed };
      };
      const runs = { signed: [], bearer: [], chat: [], bare: [] } as Record<
        "signed" | "bearer" | "chat" | "bare",
        { rate: number; perCpuSecond: number; cpuUse: number }[]
      >;
      const count = Math.ceil(SECONDS_PER_RUN * 12_000);
      for (let run = 0; run < repeats; run++) {
        progress(
          `run ${run + 1}/${repeats}: API key, signed voucher, OpenAI chat with a key, bare route (${CONCURRENCY} in flight, ${SECONDS_PER_RUN} s each)`,
        );
        runs.bearer.push(await throughput(load, "/v1/queries", many(bearer, count)));
        runs.signed.push(await throughput(load, "/v1/queries", many(signed, Math.ceil(SECONDS_PER_RUN * 6_000))));
        runs.chat.push(await throughput(load, "/v1/chat/completions", many(bearerChat, count)));
        runs.bare.push(await throughput(baseline, "/model", many(bare, count)));
      }
      const perCpu = (kind: keyof typeof runs) => median(runs[kind].map((r) => r.perCpuSecond));
      const rate = (kind: keyof typeof runs) => median(runs[kind].map((r) => r.rate));

      // Latency at concurrency 1: the gateway (signed, then with a key) and the bare route alternating in blocks.
      progress(`latency at concurrency 1 (${LATENCY_SAMPLES} queries of each kind, fsync'd writes between)`);
      const latency = { signed: [] as number[], bearer: [] as number[], direct: [] as number[] };
      const single = createLoad(started.url, 1);
      const singleBaseline = createLoad(started.baselineUrl, 1);
      // The floor under the added latency: each answer waits for its count to be fsync'd. Measured
      // between the blocks, so that it sees the disk as the queries do.
      const store = await createUsageStore({ directory: path.join(directory, "fsync") });
      const fsyncLane = { consumer: consumers[0]!.address, key: zeroAddress, epoch };
      await store.load(fsyncLane.consumer, epoch);
      const fsync: number[] = [];
      const fsyncOnce = async () => {
        const started = performance.now();
        await store.record(store.reserveNext(fsyncLane), {
          maxFeePerQuery: FEE,
          inputHash: keccak256(toHex(`fsync ${fsync.length}`)),
          deadline,
        });
        fsync.push(performance.now() - started);
      };
      const block = 50;
      for (let i = 0; i < LATENCY_SAMPLES; i += block) {
        for (const sent of many(signed, block)) {
          const answered = await single.post("/v1/queries", sent.body);
          if (answered.status !== 200) refuse(answered);
          latency.signed.push(answered.ms);
        }
        for (const sent of many(bearer, block)) {
          const answered = await single.post("/v1/queries", sent.body, sent.headers);
          if (answered.status !== 200) refuse(answered);
          latency.bearer.push(answered.ms);
        }
        for (const sent of many(bare, block)) latency.direct.push((await singleBaseline.post("/model", sent.body)).ms);
        for (let j = 0; j < block / 5; j++) await fsyncOnce();
      }
      single.close();
      singleBaseline.close();
      await store.close();

      const refused = [...refusals].map(([code, n]) => `${n} ${code}`).join(", ");
      const p = (values: number[], q: number) => percentile(values, q);
      const ms = (value: number) => `${value.toFixed(2)} ms`;
      const added = (values: number[], q: number) => p(values, q) - p(latency.direct, q);
      const perSecond = (value: number) => `${Math.round(value)} /s`;
      return {
        title: "Queries",
        columns: ["what", "measured", "baseline, same run", "ratio", "target"],
        rows: [
          [
            "queries per CPU-second of the worker with an API key (Authorization: Bearer), POST /v1/queries",
            perSecond(perCpu("bearer")),
            `the bare route, same HTTP stack: ${perSecond(perCpu("bare"))}`,
            ratio(perCpu("bearer") / perCpu("bare")),
            `≥ ${TARGET_BEARER_PER_SECOND} /s: ${perCpu("bearer") >= TARGET_BEARER_PER_SECOND ? "met" : "**not met**"} (${ratio(perCpu("bearer") / TARGET_BEARER_PER_SECOND)})`,
          ],
          [
            "queries per CPU-second of the worker with a signed Usage voucher, POST /v1/queries",
            perSecond(perCpu("signed")),
            `the bare route, same HTTP stack: ${perSecond(perCpu("bare"))}`,
            ratio(perCpu("signed") / perCpu("bare")),
            `≥ ${TARGET_SIGNED_PER_SECOND} /s: ${perCpu("signed") >= TARGET_SIGNED_PER_SECOND ? "met" : "**not met**"} (${ratio(perCpu("signed") / TARGET_SIGNED_PER_SECOND)})`,
          ],
          [
            "the same with an API key through OpenAI's API (POST /v1/chat/completions), per worker CPU-second",
            perSecond(perCpu("chat")),
            `POST /v1/queries with a key: ${perSecond(perCpu("bearer"))}`,
            ratio(perCpu("chat") / perCpu("bearer")),
            "",
          ],
          [
            `queries per second, worker on one core, ${CONCURRENCY} in flight: with a key / signed`,
            `${perSecond(rate("bearer"))} / ${perSecond(rate("signed"))}`,
            `the bare route: ${perSecond(rate("bare"))}`,
            `${ratio(rate("bearer") / rate("bare"))} / ${ratio(rate("signed") / rate("bare"))}`,
            "",
          ],
          [
            "latency the gateway adds, p50 at concurrency 1: with a key / signed",
            `${ms(added(latency.bearer, 50))} / ${ms(added(latency.signed, 50))}`,
            `the model alone over the same HTTP stack: ${ms(p(latency.direct, 50))}`,
            `${ratio(p(latency.bearer, 50) / p(latency.direct, 50))} / ${ratio(p(latency.signed, 50) / p(latency.direct, 50))}`,
            `< 1 ms: ${Math.max(added(latency.bearer, 50), added(latency.signed, 50)) < 1 ? "met" : "**not met**"}`,
          ],
          [
            "latency the gateway adds, p99 at concurrency 1: with a key / signed",
            `${ms(added(latency.bearer, 99))} / ${ms(added(latency.signed, 99))}`,
            `the model alone over the same HTTP stack: ${ms(p(latency.direct, 99))}`,
            `${ratio(p(latency.bearer, 99) / p(latency.direct, 99))} / ${ratio(p(latency.signed, 99) / p(latency.direct, 99))}`,
            `< 5 ms: ${Math.max(added(latency.bearer, 99), added(latency.signed, 99)) < 5 ? "met" : "**not met**"}`,
          ],
          [
            "under it, the durable count alone: one fsync'd usage-store write, p50, same period",
            ms(p(fsync, 50)),
            "",
            "",
            "",
          ],
        ],
        notes: [
          `Each query is checked in full: policy, the credential (an API key: the token's SHA-256 looked up, its grant's expiry, worker, fee, revocation and cap; a signed voucher: its EIP-712 signature recovered, low s, deadline, epoch, fee and an unused total of its lane), quota share and deposit, counted durably (LevelDB, fsync'd, group commit), receipt signed; ${CONSUMERS} consumers, each with one key, fee on.`,
          `A key costs no curve work per request: the token's address is derived once per process and found by its SHA-256 afterwards. A voucher's signature is recovered by libsecp256k1 (${secp256k1.name} build here: ${secp256k1.name === "native" ? "N-API" : "WebAssembly"}) over an EIP-712 digest built with the domain separator and type hash computed once.`,
          "Chain state is not read per query: deposits, withdrawals and key states are read once per head block the policy sync has seen (pipeline-worker/docs/queries.md).",
          `The worker used ${Math.round(median(runs.bearer.map((r) => r.cpuUse)) * 100)}% (with a key) and ${Math.round(median(runs.signed.map((r) => r.cpuUse)) * 100)}% (signed) of its core during the throughput runs: below 100%, the load generator (sharing CPU 1 with the chain and anything else running) or the fsync wait limited the rate, and queries per CPU-second is the worker's own capacity.`,
          `Refused during the runs (not counted as served): ${refused || "none"}.`,
          `Worker pinned to CPU 0 (taskset), load generator and chain to CPU 1; throughput is the median of ${repeats} runs of ${SECONDS_PER_RUN} s of each kind; latency from ${LATENCY_SAMPLES} sequential queries of each kind, alternating in blocks of ${block}.`,
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
