import { afterAll, describe, expect, it } from "vitest";
import { getAddress, keccak256, toHex, type Address } from "viem";
import { isSubmitter } from "../../src/policy/Policy.ts";
import { createPolicyTestChain, type PolicyTestChain } from "./createPolicyTestChain.ts";

// A measurement, not a check: off unless asked for, e.g.
// POLICY_BENCH_EVENTS=20000 npx vitest run pipeline-worker/test/policy/syncThroughput.test.ts
const EVENTS = Number(process.env.POLICY_BENCH_EVENTS ?? 0);
const PER_TRANSACTION = 250;

let chain: PolicyTestChain | undefined;
afterAll(async () => {
  await chain?.cleanUp();
});

describe.runIf(EVENTS > 0)("policy sync throughput", () => {
  it(`syncs ${EVENTS} events from the deployment`, { timeout: 600_000 }, async () => {
    chain = await createPolicyTestChain();
    const submitters: Address[] = Array.from({ length: EVENTS }, (_, i) =>
      getAddress(keccak256(toHex(`submitter ${i}`)).slice(0, 42)),
    );
    const emitStart = performance.now();
    for (let i = 0; i < submitters.length; i += PER_TRANSACTION) {
      await chain.asTimelock("setSubmitters", [submitters.slice(i, i + PER_TRANSACTION), true]);
      // Spread the events over blocks as a live chain would.
      await chain.testClient.mine({ blocks: 50 });
    }
    const emitSeconds = (performance.now() - emitStart) / 1000;

    const directory = await chain.directory();
    const { sync, control } = await chain.createSync({ directory, maxBlockRange: 2000 });
    const start = performance.now();
    const result = await sync.poll();
    const seconds = (performance.now() - start) / 1000;
    expect(result.eventsApplied).toBe(EVENTS);
    expect(isSubmitter(sync.policy(), submitters.at(-1)!)).toBe(true);

    await sync.close();
    const restartStart = performance.now();
    const again = await chain.createSync({ directory, maxBlockRange: 2000 });
    await again.sync.poll();
    const restartSeconds = (performance.now() - restartStart) / 1000;
    expect(isSubmitter(again.sync.policy(), submitters[0]!)).toBe(true);
    await again.sync.close();
    console.info(
      `policy sync: ${EVENTS} events over ${result.confirmed.blockNumber} blocks in ${seconds.toFixed(2)} s ` +
        `(${Math.round(EVENTS / seconds)} events/s, ${control.logRanges().length} getLogs ranges); ` +
        `emitting them took ${emitSeconds.toFixed(1)} s; a restart (open the store, one poll) ${restartSeconds.toFixed(2)} s`,
    );
  });
});
