import { keccak256, toHex, type Address } from "viem";
import type { DigestSigner } from "../../src/chain/signatures.ts";
import { createQueryHasher } from "../../src/chain/typedData.ts";
import type { QueryRequest } from "../../src/inference/createQueryService.ts";
import { epochAt, type EpochSchedule } from "../../src/policy/Policy.ts";

/** A query a worker answered with 200, as the consumer saw it. */
export type AnsweredQuery = {
  consumer: Address;
  nonce: bigint;
  epoch: bigint;
  worker: number;
  /** The receipt's `used`: which of the consumer's queries in the epoch this worker says it was. */
  used: bigint;
};

/** A refusal as the consumer saw it: the HTTP status, the problem's `code` and, if it has one, its `reason`. */
export type RefusedQuery = {
  consumer: Address;
  nonce: bigint;
  worker: number;
  status: number;
  code: string;
  reason?: string;
};

export type LoadTally = {
  sent: number;
  answered: AnsweredQuery[];
  refused: RefusedQuery[];
  /** Requests that got no HTTP answer at all, or one that was not JSON. */
  failures: string[];
  /** By consumer and epoch (`${consumer}!${epoch}`): the workers that answered QUOTA_EXHAUSTED. */
  exhaustedAt: Map<string, Set<number>>;
  durationMs: number;
};

export type RunConsumersParameters = {
  /**
   * The consumers' keys. They sign with libsecp256k1, as the worker checks, not with viem (the
   * same bytes, a test holds them to viem's): viem's signing took most of a core at this load, in
   * the process that also runs the chain the workers settle on.
   */
  consumers: DigestSigner[];
  /** Worker `index` is the worker's `workerIndex`. */
  workers: { index: number; url: string }[];
  /** Requests each consumer keeps in flight at once. */
  lanesPerConsumer: number;
  durationMs: number;
  /**
   * The load goes on past `durationMs` until this holds, so that what the test needs to see (every
   * worker refusing some consumer) happens however slow the machine is.
   */
  until?: (tally: LoadTally) => boolean;
  chainId: number;
  usageSettlement: Address;
  schedule: EpochSchedule;
  /** The chain's clock (milliseconds): the epoch a consumer signs for is the chain's. */
  now: () => number;
};

const INPUTS = [
  "URGENT: verify your wallet to claim the prize",
  "lunch at noon on Thursday?",
  "your account is suspended, send the seed phrase",
  "the quarterly report is attached",
];

/**
 * Consumers querying as a well-behaved client does: each keeps `lanesPerConsumer` signed queries in
 * flight, each to a worker picked at random; a worker that answers QUOTA_EXHAUSTED (its share is
 * spent) is left alone for the rest of that epoch and the others are tried, as the docs advise; when
 * every worker has refused, the consumer waits for the next epoch. WRONG_EPOCH (a query signed just
 * before the epoch turned) is signed again for the new epoch. Everything each consumer saw is tallied.
 */
export async function runConsumers(parameters: RunConsumersParameters): Promise<LoadTally> {
  const { consumers, workers, now, schedule } = parameters;
  const queryDigest = createQueryHasher(parameters.chainId, parameters.usageSettlement);
  const tally: LoadTally = { sent: 0, answered: [], refused: [], failures: [], exhaustedAt: new Map(), durationMs: 0 };
  const started = Date.now();
  const end = started + parameters.durationMs;
  const nextNonce = new Map<Address, bigint>();

  const epochNow = () => epochAt(schedule, BigInt(Math.floor(now() / 1000)));
  const epochEndsAtMs = (epoch: bigint) => Number(schedule.epochGenesis + (epoch + 1n) * schedule.epochLength) * 1000;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

  function sign(consumer: DigestSigner, epoch: bigint): QueryRequest {
    const nonce = (nextNonce.get(consumer.address) ?? 0n) + 1n;
    nextNonce.set(consumer.address, nonce);
    const input = `${INPUTS[Number(nonce % BigInt(INPUTS.length))]} #${nonce}`;
    const message = {
      consumer: consumer.address,
      inputHash: keccak256(toHex(input)),
      nonce,
      epoch,
      deadline: BigInt(Math.floor(now() / 1000)) + 600n,
    };
    const signature = consumer.sign(queryDigest(message));
    return {
      consumer: consumer.address,
      input,
      nonce: nonce.toString(),
      epoch: epoch.toString(),
      deadline: Number(message.deadline),
      signature,
    };
  }

  const done = () => Date.now() >= end && (parameters.until?.(tally) ?? true);

  async function lane(consumer: DigestSigner) {
    while (!done()) {
      const epoch = epochNow();
      const key = `${consumer.address}!${epoch}`;
      const exhausted = tally.exhaustedAt.get(key) ?? new Set<number>();
      const open = workers.filter((w) => !exhausted.has(w.index));
      if (open.length === 0) {
        // Every worker's share is spent: nothing to do until the quota is restored.
        await sleep(Math.min(250, epochEndsAtMs(epoch) - now() + 50));
        continue;
      }
      const worker = open[Math.floor(Math.random() * open.length)]!;
      const body = sign(consumer, epoch);
      tally.sent++;
      let status: number;
      let json: { code?: string; reason?: string; receipt?: { used: string }; epoch?: string };
      try {
        const response = await fetch(`${worker.url}/v1/queries`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        });
        status = response.status;
        json = (await response.json()) as typeof json;
      } catch (error) {
        tally.failures.push(`${worker.url}: ${String(error)}`);
        continue;
      }
      const nonce = BigInt(body.nonce);
      if (status === 200 && json.receipt !== undefined) {
        tally.answered.push({
          consumer: consumer.address,
          nonce,
          epoch,
          worker: worker.index,
          used: BigInt(json.receipt.used),
        });
        continue;
      }
      tally.refused.push({
        consumer: consumer.address,
        nonce,
        worker: worker.index,
        status,
        code: json.code ?? `HTTP ${status}`,
        reason: json.reason,
      });
      if (json.code === "QUOTA_EXHAUSTED") {
        const refusedKey = `${consumer.address}!${json.epoch ?? epoch}`;
        const set = tally.exhaustedAt.get(refusedKey) ?? new Set<number>();
        set.add(worker.index);
        tally.exhaustedAt.set(refusedKey, set);
      }
    }
  }

  const lanes = consumers.flatMap((consumer) =>
    Array.from({ length: parameters.lanesPerConsumer }, () => lane(consumer)),
  );
  await Promise.all(lanes);
  tally.durationMs = Date.now() - started;
  return tally;
}
