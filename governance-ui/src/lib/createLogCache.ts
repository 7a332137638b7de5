import type { AbiEvent, Address, Log, PublicClient } from "viem";

export type CachedLog = Log<bigint, number, false, AbiEvent, false> & {
  eventName: string;
  args: Record<string, unknown>;
};

export type CreateLogCacheParameters = {
  publicClient: PublicClient;
  /** The first block the system's events can be in (the deployment block). */
  fromBlock: bigint;
  /** Blocks per eth_getLogs request, within what public RPC providers accept. */
  chunkSize?: bigint;
  /** Blocks re-read on every refresh, so that a reorg of at most this depth is corrected. */
  reorgDepth?: bigint;
};

type Entry = { logs: CachedLog[]; toBlock: bigint; inFlight?: Promise<CachedLog[]> };

/**
 * The system's events, read once and then incrementally: each refresh reads only the blocks since
 * the last one (plus a few already read, to follow reorgs). The chain is the only source: no
 * indexer is needed, because the Governor stores its proposals and every policy change emits an
 * event that carries the policy version.
 */
export function createLogCache(parameters: CreateLogCacheParameters) {
  const { publicClient, fromBlock } = parameters;
  const chunkSize = parameters.chunkSize ?? 10_000n;
  const reorgDepth = parameters.reorgDepth ?? 12n;
  const entries = new Map<string, Entry>();

  async function read(address: Address, events: readonly AbiEvent[], from: bigint, to: bigint) {
    const logs: CachedLog[] = [];
    for (let start = from; start <= to; start += chunkSize) {
      const end = start + chunkSize - 1n < to ? start + chunkSize - 1n : to;
      const chunk = await publicClient.getLogs({ address, events, fromBlock: start, toBlock: end });
      logs.push(...(chunk as unknown as CachedLog[]));
    }
    return logs;
  }

  /** Every log of `events` emitted by `address` up to block `toBlock`, in chain order. */
  function logs(address: Address, events: readonly AbiEvent[], toBlock: bigint): Promise<CachedLog[]> {
    const key = `${address.toLowerCase()}:${events.map((e) => e.name).join(",")}`;
    const entry = entries.get(key) ?? { logs: [], toBlock: fromBlock - 1n };
    entries.set(key, entry);
    if (entry.toBlock >= toBlock) return Promise.resolve(entry.logs.filter((l) => l.blockNumber <= toBlock));
    if (entry.inFlight) return entry.inFlight.then(() => logs(address, events, toBlock));
    const start = entry.toBlock - reorgDepth + 1n > fromBlock ? entry.toBlock - reorgDepth + 1n : fromBlock;
    entry.inFlight = read(address, events, start, toBlock)
      .then((fresh) => {
        entry.logs = [...entry.logs.filter((l) => l.blockNumber < start), ...fresh];
        entry.toBlock = toBlock;
        return entry.logs;
      })
      .finally(() => {
        entry.inFlight = undefined;
      });
    return entry.inFlight;
  }

  const timestamps = new Map<bigint, bigint>();
  /** Block timestamps, cached (a reorg rarely moves a timestamp by more than a block time). */
  async function blockTimes(blockNumbers: readonly bigint[]): Promise<Map<bigint, bigint>> {
    const missing = [...new Set(blockNumbers)].filter((n) => !timestamps.has(n));
    const blocks = await Promise.all(missing.map((blockNumber) => publicClient.getBlock({ blockNumber })));
    for (const block of blocks) timestamps.set(block.number, block.timestamp);
    return timestamps;
  }

  return { logs, blockTimes };
}

export type LogCache = ReturnType<typeof createLogCache>;
