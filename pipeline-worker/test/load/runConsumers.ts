import { keccak256, toHex, zeroAddress, type Address } from "viem";
import type { SignedQueryRequest } from "../../src/api/consumerWire.ts";
import type { DigestSigner } from "../../src/chain/signatures.ts";
import { createUsageHasher } from "../../src/chain/typedData.ts";
import { epochAt, type EpochSchedule } from "../../src/policy/Policy.ts";

/** A query a worker answered with 200, as the consumer saw it. */
export type AnsweredQuery = {
  consumer: Address;
  epoch: bigint;
  worker: number;
  /** The voucher's total in the lane (consumer, worker, epoch), as the receipt states it. */
  total: bigint;
};

/** A refusal as the consumer saw it: the HTTP status, the problem's `code` and, if it has one, its `reason`. */
export type RefusedQuery = {
  consumer: Address;
  total: bigint;
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
  /** Worker `index` is the worker's `workerIndex`; `address` is the `worker` its vouchers name. */
  workers: { index: number; url: string; address: Address }[];
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
  /** The most each consumer lets a worker charge per query. */
  maxFeePerQuery: bigint;
};

const INPUTS = [
  "URGENT: verify your wallet to claim the prize",
  "lunch at noon on Thursday?",
  "your account is suspended, send the seed phrase",
  "the quarterly report is attached",
];

/**
 * Consumers querying as a well-behaved client does: each keeps `lanesPerConsumer` signed queries in
 * flight, each to a worker picked at random, each signing the next total of its lane at that worker; a worker that answers QUOTA_EXHAUSTED (its share is
 * spent) is left alone for the rest of that epoch and the others are tried, as the docs advise; when
 * every worker has refused, the consumer waits for the next epoch. WRONG_EPOCH (a query signed just
 * before the epoch turned) is signed again for the new epoch. Everything each consumer saw is tallied.
 */
export async function runConsumers(parameters: RunConsumersParameters): Promise<LoadTally> {
  const { consumers, workers, now, schedule } = parameters;
  const usageDigest = createUsageHasher(parameters.chainId, parameters.usageSettlement);
  const tally: LoadTally = { sent: 0, answered: [], refused: [], failures: [], exhaustedAt: new Map(), durationMs: 0 };
  const started = Date.now();
  const end = started + parameters.durationMs;
  /** By lane (consumer, worker, epoch): the highest total signed, and totals signed but refused, to sign again. */
  const lanes = new Map<string, { signed: bigint; free: bigint[] }>();
  let inputs = 0;

  const epochNow = () => epochAt(schedule, BigInt(Math.floor(now() / 1000)));
  const epochEndsAtMs = (epoch: bigint) => Number(schedule.epochGenesis + (epoch + 1n) * schedule.epochLength) * 1000;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

  const laneOf = (consumer: Address, worker: Address, epoch: bigint) => {
    const key = `${consumer}!${worker}!${epoch}`;
    let lane = lanes.get(key);
    if (lane === undefined) lanes.set(key, (lane = { signed: 0n, free: [] }));
    return lane;
  };

  /**
   * Signs the lane's next total, as a client keeping its own counter does; a total refused before
   * is signed again first, so that the lane's charge (its highest total) is what was answered.
   */
  function sign(consumer: DigestSigner, worker: Address, epoch: bigint): SignedQueryRequest {
    const lane = laneOf(consumer.address, worker, epoch);
    lane.free.sort((a, b) => (a < b ? 1 : -1));
    const total = lane.free.pop() ?? ++lane.signed;
    const input = `${INPUTS[++inputs % INPUTS.length]} #${inputs}`;
    const message = {
      consumer: consumer.address,
      key: zeroAddress,
      worker,
      epoch,
      total,
      maxFeePerQuery: parameters.maxFeePerQuery,
      inputHash: keccak256(toHex(input)),
      deadline: BigInt(Math.floor(now() / 1000)) + 600n,
    };
    return {
      consumer: consumer.address,
      input,
      epoch: epoch.toString(),
      total: total.toString(),
      maxFeePerQuery: message.maxFeePerQuery.toString(),
      deadline: Number(message.deadline),
      signature: consumer.sign(usageDigest(message)),
    };
  }

  const done = () => Date.now() >= end && (parameters.until?.(tally) ?? true);

  async function client(consumer: DigestSigner) {
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
      const body = sign(consumer, worker.address, epoch);
      tally.sent++;
      let status: number;
      let json: { code?: string; reason?: string; receipt?: { total: string }; epoch?: string };
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
      const total = BigInt(body.total);
      if (status === 200 && json.receipt !== undefined) {
        tally.answered.push({
          consumer: consumer.address,
          epoch,
          worker: worker.index,
          total: BigInt(json.receipt.total),
        });
        continue;
      }
      if (json.code !== "TOTAL_REPLAYED") laneOf(consumer.address, worker.address, epoch).free.push(total);
      tally.refused.push({
        consumer: consumer.address,
        total,
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

  const clients = consumers.flatMap((consumer) =>
    Array.from({ length: parameters.lanesPerConsumer }, () => client(consumer)),
  );
  await Promise.all(clients);
  tally.durationMs = Date.now() - started;
  return tally;
}
