// The worker's policy sync following a registry with many events, next to plain getLogs + decode of
// the same events, and the time to resume from its stored cursor next to a cold sync.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  createPublicClient,
  createWalletClient,
  decodeEventLog,
  getAddress,
  http,
  keccak256,
  parseEther,
  toHex,
  type Address,
  type PublicClient,
} from "viem";
import { policyRegistryAbi } from "../../deployments/abis.ts";
import { isSubmitter, createPolicySync, readPolicyDeployment } from "@dao-ai/pipeline-worker/bench";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { createBenchSystem } from "../lib/bench/createBenchSystem.ts";
import { DEV_ROLES } from "../lib/stack/devAccounts.ts";
import { median, ratio, time, type BenchContext, type BenchSection } from "./measure.ts";

/** Registry events to follow; `BENCH_SYNC_EVENTS` changes it for a quick run. */
const EVENTS = Number(process.env.BENCH_SYNC_EVENTS ?? 100_000);
/** Events per transaction: `setSubmitters` emits one `SubmitterSet` per account. */
const PER_TRANSACTION = 250;
/** Empty blocks after each transaction, so the events spread over blocks as on a live chain. */
const BLOCKS_BETWEEN = 50;
/** The worker's default `maxBlockRange` and confirmations. */
const MAX_BLOCK_RANGE = 2_000;
const CONFIRMATIONS = 2;

export async function benchSync({ repeats, progress }: BenchContext): Promise<BenchSection> {
  progress("starting a Hardhat node and deploying the system");
  // Hardhat mines a run of empty blocks at once; Anvil would spend minutes building 20,000 of them.
  const system = await createBenchSystem({ node: "hardhat" });
  const root = await mkdtemp(path.join(tmpdir(), "bench-sync-"));
  try {
    const { testClient, deployment, rpcUrl } = system;
    const { timelock, policyRegistry } = deployment.contracts;
    // The timelock's own transactions emit exactly the events an executed proposal's would; sending
    // them directly skips the vote, which would take hours for 400 proposals.
    await testClient.impersonateAccount({ address: timelock });
    await testClient.setBalance({ address: timelock, value: parseEther("1000") });
    const asTimelock = createWalletClient({ account: timelock, chain: system.chain, transport: http(rpcUrl) });
    const submitters: Address[] = [];
    const emitted = await time(async () => {
      for (let i = 0; i < EVENTS; i += PER_TRANSACTION) {
        const batch = Array.from({ length: Math.min(PER_TRANSACTION, EVENTS - i) }, (_, n) =>
          getAddress(keccak256(toHex(`submitter ${i + n}`)).slice(0, 42)),
        );
        submitters.push(...batch);
        // A fixed gas limit skips estimation; the sync itself checks that every event arrived.
        await asTimelock.writeContract({
          address: policyRegistry,
          abi: policyRegistryAbi,
          functionName: "setSubmitters",
          args: [batch, true],
          gas: 10_000_000n,
        });
        await testClient.mine({ blocks: BLOCKS_BETWEEN });
        if ((i + PER_TRANSACTION) % 10_000 === 0) progress(`emitted ${i + PER_TRANSACTION} of ${EVENTS} events`);
      }
    });
    await testClient.stopImpersonatingAccount({ address: timelock });
    // Hardhat answers calls at a block of a run mined at once with empty code, and the sync reads
    // the registry's views at its confirmed block and the head: end on blocks of transactions.
    const sender = system.wallet(DEV_ROLES.outsider);
    for (let i = 0; i <= CONFIRMATIONS; i++) {
      await system.wait(await sender.sendTransaction({ to: sender.account.address, value: 0n }), "Mining a block");
    }
    const version = await system.publicClient.readContract({
      address: policyRegistry,
      abi: policyRegistryAbi,
      functionName: "policyVersion",
    });
    const head = await system.publicClient.getBlockNumber({ cacheTime: 0 });
    const fromBlock = BigInt(deployment.deploymentBlock);
    progress(
      `${EVENTS} events over ${head - fromBlock} blocks, emitted in ${emitted.toFixed(1)} s; policy version ${version}`,
    );

    // A client as the worker makes one (createWorker): plain HTTP, no batching.
    const client = createPublicClient({ chain: system.chain, transport: http(rpcUrl) }) as PublicClient;
    const policyDeployment = readPolicyDeployment(JSON.parse(JSON.stringify(deployment)));
    const to = head - BigInt(CONFIRMATIONS);

    let logCount = 0;
    const baseline: number[] = [];
    const cold: number[] = [];
    const resume: number[] = [];
    let coldEvents = 0;
    for (let run = 0; run < Math.min(repeats, 3); run++) {
      progress(`run ${run + 1}: getLogs + decode`);
      baseline.push(
        await time(async () => {
          logCount = 0;
          for (let start = fromBlock; start <= to; start += BigInt(MAX_BLOCK_RANGE)) {
            const end = start + BigInt(MAX_BLOCK_RANGE) - 1n < to ? start + BigInt(MAX_BLOCK_RANGE) - 1n : to;
            const logs = await client.getLogs({ address: policyRegistry, fromBlock: start, toBlock: end });
            for (const log of logs) decodeEventLog({ abi: policyRegistryAbi, data: log.data, topics: log.topics });
            logCount += logs.length;
          }
        }),
      );

      progress(`run ${run + 1}: cold policy sync`);
      const directory = path.join(root, `run-${run}`);
      const options = { client, deployment: policyDeployment, directory, confirmations: CONFIRMATIONS };
      const first = await createPolicySync(options);
      cold.push(
        await time(async () => {
          coldEvents = (await first.poll()).eventsApplied;
        }),
      );
      await first.close();

      progress(`run ${run + 1}: resume from the stored cursor`);
      let resumed: Awaited<ReturnType<typeof createPolicySync>> | undefined;
      resume.push(
        await time(async () => {
          resumed = await createPolicySync(options);
          await resumed.poll();
        }),
      );
      if (!isSubmitter(resumed!.policy(), submitters.at(-1)!) || !isSubmitter(resumed!.policy(), submitters[0]!)) {
        throw new BaseError("The resumed policy sync lost submitters it had synced.");
      }
      await resumed!.close();
    }
    if (coldEvents < EVENTS) {
      throw new BaseError(`The policy sync applied ${coldEvents} events, fewer than the ${EVENTS} emitted.`);
    }

    const perSecond = (events: number, seconds: number) =>
      `${Math.round(events / seconds).toLocaleString("en-US")} events/s`;
    const ms = (seconds: number) => `${(seconds * 1000).toFixed(seconds < 1 ? 1 : 0)} ms`;
    return {
      title: "Policy sync",
      columns: ["what", "measured", "baseline, same run", "ratio to baseline"],
      rows: [
        [
          `cold sync of ${coldEvents.toLocaleString("en-US")} events (${(to - fromBlock).toLocaleString("en-US")} blocks)`,
          `${perSecond(coldEvents, median(cold))} (${ms(median(cold))})`,
          `eth_getLogs + decode: ${perSecond(logCount, median(baseline))} (${ms(median(baseline))})`,
          ratio(median(baseline) / median(cold)),
        ],
        [
          "resume after a restart (open the store, one poll)",
          ms(median(resume)),
          `cold sync: ${ms(median(cold))}`,
          ratio(median(resume) / median(cold)),
        ],
      ],
      notes: [
        `A fresh Hardhat node (over HTTP); the registry's timelock (impersonated) calls setSubmitters with ${PER_TRANSACTION} accounts per transaction and ${BLOCKS_BETWEEN} empty blocks after each, ${EVENTS.toLocaleString("en-US")} SubmitterSet events in all (emitting them took ${emitted.toFixed(0)} s).`,
        `The sync is the worker's own (createPolicySync) over plain HTTP, ${CONFIRMATIONS} confirmations, eth_getLogs ranges of ${MAX_BLOCK_RANGE} blocks, its LevelDB store on local disk; the cold figure covers reading, reducing and persisting every event and the start-up checks against the registry's views.`,
        `The baseline fetches the same ranges with viem's getLogs and decodes each log, nothing more: the ratio is the share of the sync's speed that the RPC node and decoding allow.`,
        `Resume opens the store written by the cold sync (its cursor and policy) and polls once; the ratio is resume time over cold-sync time. Medians of ${cold.length} runs.`,
      ],
    };
  } finally {
    await system.stop();
    await rm(root, { recursive: true, force: true });
  }
}
