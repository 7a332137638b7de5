// How soon the real worker enforces what governance (or the guardian) did on chain: from the
// transaction's inclusion to the first query the worker answers differently, with blocks mined at a
// steady interval so that a count of blocks means something.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { encodeFunctionData, type Abi, type Hex } from "viem";
import { policyGovernorAbi, policyRegistryAbi } from "../../deployments/abis.ts";
import { createWorker } from "@dao-ai/pipeline-worker/createWorker";
import { createLogger } from "@dao-ai/pipeline-worker/createLogger";
import type { WorkerConfig, Model } from "@dao-ai/pipeline-worker/bench";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { BENCH_GUARDIAN, createBenchSystem, type BenchSystem } from "../lib/bench/createBenchSystem.ts";
import type { ProposalAction, Wallet } from "../lib/actors/createGovernanceDriver.ts";
import { devAccount, devPrivateKey, DEV_ROLES } from "../lib/stack/devAccounts.ts";
import type { QuotaStatus } from "@dao-ai/pipeline-worker/consumer-api";
import { signQueryRequest } from "../lib/actors/signQueryRequest.ts";
import { median, type BenchContext, type BenchSection } from "./measure.ts";

/** Seconds between the blocks Anvil mines on its own (transactions are mined at once as well). */
const BLOCK_TIME_SECONDS = 0.5;
/** The worker's policy polling interval: the floor of every latency below. Its default is 2,000 ms. */
const POLLING_INTERVAL_MS = 500;
/** Blocks a grant waits for before the worker acts on it (the worker's default). */
const CONFIRMATIONS = 2;
const LARGE_QUOTA = 1_000_000_000n;
/** The longest a change may take to show before the bench gives up. */
const GIVE_UP_MS = 30_000;

/** Answers at once: only the worker's own checks stand between the consumer and the answer. */
const noopModel: Model = { id: "no-op", classify: async () => ({ label: "ok", score: "low" }) };

type Outcome = { at: number; status: number; code: string | undefined };
type Sample = { ms: number; blocks: bigint };

export async function benchEnforcement({ repeats, progress }: BenchContext): Promise<BenchSection> {
  progress(`starting Anvil (a block every ${BLOCK_TIME_SECONDS} s) and deploying the system`);
  const system = await createBenchSystem({ blockTimeSeconds: BLOCK_TIME_SECONDS, deploy: { timelockMinDelay: 1n } });
  const root = await mkdtemp(path.join(tmpdir(), "bench-enforcement-"));
  let stopConsumer: (() => Promise<unknown>) | undefined;
  let closeWorker: (() => Promise<void>) | undefined;
  try {
    const { deployment, wallet } = system;
    const consumer = devAccount(DEV_ROLES.consumer);
    const registryAction = (functionName: string, args: readonly unknown[]): ProposalAction => ({
      target: deployment.contracts.policyRegistry,
      abi: policyRegistryAbi as Abi,
      functionName,
      args,
    });
    progress("a proposal authorises the worker and gives the consumer a quota");
    await system.pass([
      registryAction("setWorker", [devAccount(DEV_ROLES.worker).address, true]),
      registryAction("setQuota", [consumer.address, LARGE_QUOTA]),
    ]);

    const manifest = path.join(root, "deployment.json");
    await writeFile(manifest, JSON.stringify(deployment));
    const config: WorkerConfig = {
      rpcUrl: system.rpcUrl,
      chainId: deployment.chainId,
      deploymentManifest: manifest,
      dataDir: path.join(root, "worker"),
      http: { host: "127.0.0.1", port: 0 },
      confirmations: CONFIRMATIONS,
      stalenessSeconds: 600,
      maxPayloadBytes: 1024 * 1024,
      storage: { kind: "helia", kuboUrl: undefined },
      inference: {
        workerIndex: 0,
        workerCount: 1,
        maxInputLength: 256,
        settlementBatchSize: 50,
        settlementIntervalSeconds: 3_600,
      },
      privateKey: devPrivateKey(DEV_ROLES.worker),
      logLevel: "silent",
    };
    const worker = await createWorker({
      config,
      logger: createLogger({ level: "silent" }),
      pollingIntervalMs: POLLING_INTERVAL_MS,
      autoRecord: false,
      autoSettle: false,
      model: noopModel,
    });
    closeWorker = () => worker.close();
    const url = await worker.listen();

    progress("the consumer starts querying in a loop");
    const loop = await startConsumerLoop(url, system);
    stopConsumer = loop.stop;
    await loop.next((o) => o.status === 200, "the first served query");

    /** The time and blocks from `send`'s transaction to the first outcome `accept`s. */
    async function measure(
      what: string,
      send: () => Promise<{ sentAt: number; blockNumber: bigint }>,
      accept: (o: Outcome) => boolean,
    ) {
      // Each measurement starts right after a poll showed the last change: a random pause puts
      // the transaction at a random point of the polling cycle, as a real one lands.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * POLLING_INTERVAL_MS));
      const { sentAt, blockNumber } = await send();
      const outcome = await loop.next((o) => o.at > sentAt && accept(o), what);
      const head = await system.publicClient.getBlockNumber({ cacheTime: 0 });
      return { ms: outcome.at - sentAt, blocks: head - blockNumber } satisfies Sample;
    }
    const refusedWith = (code: string) => (o: Outcome) => o.code === code;
    const served = (o: Outcome) => o.status === 200;
    const byProposal = (functionName: string, args: readonly unknown[]) => () =>
      executeTimed(system, [registryAction(functionName, args)]);
    // A lift names the engagement it lifts: the one in force when the proposal is made.
    const liftByProposal = () => async () => {
      const { engagementId } = await system.publicClient.readContract({
        address: deployment.contracts.policyRegistry,
        abi: policyRegistryAbi,
        functionName: "killSwitch",
      });
      return executeTimed(system, [registryAction("liftKillSwitch", [engagementId])]);
    };

    const samples: Record<string, Sample[]> = {
      guardian: [],
      proposalKill: [],
      lift: [],
      lower: [],
      raise: [],
    };
    const runs = repeats;
    for (let run = 1; run <= runs; run++) {
      progress(`run ${run} of ${runs}: the guardian engages the kill switch`);
      samples.guardian!.push(
        await measure(
          "a refusal after the guardian's kill switch",
          () =>
            sendTimed(system, wallet(BENCH_GUARDIAN), {
              to: deployment.contracts.policyRegistry,
              data: encodeFunctionData({
                abi: policyRegistryAbi,
                functionName: "engageKillSwitch",
                args: ["bench: guardian"],
              }),
            }),
          refusedWith("KILL_SWITCH_ENGAGED"),
        ),
      );
      progress(`run ${run} of ${runs}: a proposal lifts it`);
      samples.lift!.push(await measure("a served query after the lift", liftByProposal(), served));
      progress(`run ${run} of ${runs}: a proposal engages the kill switch`);
      samples.proposalKill!.push(
        await measure(
          "a refusal after the proposal's kill switch",
          byProposal("engageKillSwitch", ["bench: proposal"]),
          refusedWith("KILL_SWITCH_ENGAGED"),
        ),
      );
      progress(`run ${run} of ${runs}: a proposal lifts it`);
      samples.lift!.push(await measure("a served query after the lift", liftByProposal(), served));
      progress(`run ${run} of ${runs}: a proposal lowers the consumer's quota`);
      samples.lower!.push(
        await measure(
          "a refusal after the quota was lowered",
          byProposal("setQuota", [consumer.address, 1n]),
          refusedWith("QUOTA_EXHAUSTED"),
        ),
      );
      progress(`run ${run} of ${runs}: a proposal raises it again`);
      samples.raise!.push(
        await measure(
          "a served query after the quota was raised",
          byProposal("setQuota", [consumer.address, LARGE_QUOTA]),
          served,
        ),
      );
    }
    const stats = await loop.stop();
    stopConsumer = undefined;

    const row = (what: string, list: Sample[], waitsFor: string) => {
      const ms = median(list.map((s) => s.ms));
      const blocks = median(list.map((s) => Number(s.blocks)));
      return [
        what,
        `${Math.round(ms)} ms, ${blocks} block${blocks === 1 ? "" : "s"}`,
        waitsFor,
        (ms / POLLING_INTERVAL_MS).toFixed(2),
      ];
    };
    const atOnce = `the next poll (every ${POLLING_INTERVAL_MS} ms)`;
    const confirmed = `${CONFIRMATIONS} more blocks (${CONFIRMATIONS * BLOCK_TIME_SECONDS * 1000} ms), then the next poll`;
    return {
      title: "Enforcement",
      columns: [
        "from the transaction's inclusion to",
        "measured (median)",
        "baseline: what it waits for",
        "ratio to the polling interval",
      ],
      rows: [
        row("the first query refused KILL_SWITCH_ENGAGED, the guardian's switch", samples.guardian!, atOnce),
        row(
          "the first query refused KILL_SWITCH_ENGAGED, a proposal's switch (execute)",
          samples.proposalKill!,
          atOnce,
        ),
        row("the first query served after a proposal lifted the switch", samples.lift!, confirmed),
        row("the first query refused QUOTA_EXHAUSTED after a proposal lowered the quota", samples.lower!, atOnce),
        row("the first query served after a proposal raised the quota", samples.raise!, confirmed),
      ],
      notes: [
        `The real worker (createWorker, its own policy sync over HTTP) polls every ${POLLING_INTERVAL_MS} ms (the default is 2,000 ms; every figure scales with it) with ${CONFIRMATIONS} confirmations; Anvil mines transactions at once and a block every ${BLOCK_TIME_SECONDS} s besides.`,
        "Restrictions (a kill switch, a lower quota) act on the first poll that sees them; grants (a lift, a higher quota) wait until their block has the confirmations, then for the next poll. A change lands at a random point of the polling cycle, so a restriction takes between one poll's duration and one interval plus a poll (half an interval on average): the polling interval is what bounds it.",
        `One consumer queries one at a time in a loop (${stats.queries} queries, a median ${stats.medianMs.toFixed(1)} ms each, which bounds the resolution); the time runs from just before the transaction is sent (it is mined at once) to the first answer that shows the change; blocks are the head then minus the transaction's block. Medians of ${runs} runs.`,
        "Governance changes are measured from the execute transaction (after propose, vote, queue and the timelock); the guardian's switch needs no vote and is one transaction.",
      ],
    };
  } finally {
    await stopConsumer?.();
    await closeWorker?.();
    await system.stop();
    await rm(root, { recursive: true, force: true });
  }
}

/**
 * A consumer that queries the worker one query at a time until stopped, signing each query as a
 * client does; `next` resolves with the first outcome after the call that `accept`s.
 */
async function startConsumerLoop(url: string, system: BenchSystem) {
  const consumer = devAccount(DEV_ROLES.consumer);
  const quota = (await (await fetch(`${url}/v1/quota?consumer=${consumer.address}`)).json()) as QuotaStatus;
  const epoch = BigInt(quota.epoch);
  // The lane's running total: each query signs the next one.
  let total = BigInt(quota.nextTotal) - 1n;
  const waiters = new Set<{ accept: (o: Outcome) => boolean; resolve: (o: Outcome) => void }>();
  const durations: number[] = [];
  let running = true;
  let failure: unknown;

  async function queryOnce(): Promise<Outcome> {
    const request = await signQueryRequest({
      account: consumer,
      chainId: system.deployment.chainId,
      usageSettlement: system.deployment.contracts.usageSettlement,
      worker: quota.worker,
      input: `bench query ${++total}`,
      epoch,
      total,
      maxFeePerQuery: BigInt(quota.feePerQuery),
      deadline: BigInt(Math.floor(Date.now() / 1000) + 3_600),
    });
    const started = performance.now();
    const response = await fetch(`${url}/v1/queries`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(request),
    });
    const body = (await response.json()) as { code?: string };
    const at = performance.now();
    durations.push(at - started);
    return { at, status: response.status, code: body.code };
  }

  const done = (async () => {
    while (running) {
      try {
        const outcome = await queryOnce();
        for (const waiter of waiters) {
          if (waiter.accept(outcome)) {
            waiters.delete(waiter);
            waiter.resolve(outcome);
          }
        }
      } catch (error) {
        failure = error;
        running = false;
      }
    }
  })();

  return {
    next(accept: (o: Outcome) => boolean, what: string): Promise<Outcome> {
      if (failure !== undefined) return Promise.reject(failure);
      return new Promise<Outcome>((resolve, reject) => {
        const waiter = { accept, resolve };
        waiters.add(waiter);
        setTimeout(() => {
          if (!waiters.delete(waiter)) return;
          reject(
            new BaseError(`The worker did not show ${what} within ${GIVE_UP_MS / 1000} s.`, {
              cause: failure,
              hints: ["Check that the worker's policy sync polls (its log at level debug) and that Anvil mines."],
            }),
          );
        }, GIVE_UP_MS).unref();
      });
    },
    async stop() {
      running = false;
      await done;
      return { queries: durations.length, medianMs: durations.length > 0 ? median(durations) : 0 };
    },
  };
}

/** Signs first, then sends: the clock starts just before the transaction leaves, not before gas estimation. */
async function sendTimed(system: BenchSystem, from: Wallet, request: { to: Hex; data: Hex }) {
  const prepared = await from.prepareTransactionRequest({ ...request, account: from.account, chain: from.chain });
  const serializedTransaction = await from.signTransaction(prepared as never);
  const sentAt = performance.now();
  const hash = await from.sendRawTransaction({ serializedTransaction });
  const receipt = await system.wait(hash, "A timed transaction");
  return { sentAt, blockNumber: receipt.blockNumber };
}

/** Takes `actions` through propose, vote, queue and the timelock, then times the execute transaction. */
async function executeTimed(system: BenchSystem, actions: ProposalAction[]) {
  const { driver } = system;
  const proposal = await driver.propose(actions, `bench enforcement ${Date.now()} ${Math.random()}`);
  await driver.openVoting(proposal);
  for (const voter of system.holders) await driver.vote(proposal, { voter, support: 1 });
  await driver.closeVoting(proposal);
  await driver.queue(proposal);
  await driver.waitForTimelock(proposal);
  return sendTimed(system, system.wallet(DEV_ROLES.outsider), {
    to: system.deployment.contracts.governor,
    data: encodeFunctionData({
      abi: policyGovernorAbi,
      functionName: "execute",
      args: [proposal.targets, proposal.values, proposal.calldatas, proposal.descriptionHash],
    }),
  });
}
