import type { Address, Hex, PublicClient } from "viem";
import { decodePolicyLog, type PolicyEvent } from "./decodePolicyLog.ts";

export type FetchPolicyEventsParameters = {
  client: PublicClient;
  registry: Address;
  fromBlock: bigint;
  toBlock: bigint;
  /** The most blocks one `eth_getLogs` request covers; nodes refuse or time out on huge ranges. */
  maxBlockRange: number;
  /** Called after each range with the range and the events it held. */
  onRange?: ((range: { fromBlock: bigint; toBlock: bigint; events: number }) => void) | undefined;
};

/**
 * The registry's events in `[fromBlock, toBlock]`, decoded and in chain order, fetched in ranges
 * of at most `maxBlockRange` blocks. `KillSwitchEngaged` events get their block's timestamp,
 * from the log where the node includes it and from the block header otherwise.
 */
export async function fetchPolicyEvents(parameters: FetchPolicyEventsParameters): Promise<PolicyEvent[]> {
  const { client, registry, toBlock, maxBlockRange } = parameters;
  const span = BigInt(Math.max(1, Math.floor(maxBlockRange)));
  const events: PolicyEvent[] = [];
  for (let from = parameters.fromBlock; from <= toBlock; from += span) {
    const to = from + span - 1n < toBlock ? from + span - 1n : toBlock;
    const logs = await client.getLogs({ address: registry, fromBlock: from, toBlock: to });
    const decoded = logs.map((log) => decodePolicyLog(log));
    events.push(...decoded);
    parameters.onRange?.({ fromBlock: from, toBlock: to, events: decoded.length });
  }
  events.sort((a, b) =>
    a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : a.blockNumber < b.blockNumber ? -1 : 1,
  );
  const timestamps = new Map<Hex, Promise<bigint>>();
  for (const event of events) {
    if (event.eventName !== "KillSwitchEngaged" || event.blockTimestamp !== undefined) continue;
    let timestamp = timestamps.get(event.blockHash);
    if (timestamp === undefined) {
      timestamp = client.getBlock({ blockHash: event.blockHash }).then((block) => block.timestamp);
      timestamps.set(event.blockHash, timestamp);
    }
    event.blockTimestamp = await timestamp;
  }
  return events;
}
