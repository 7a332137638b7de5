import type { Address } from "viem";

/** A consumer's account in UsageSettlement, as `accountOf` returns it. */
export type ConsumerAccount = { balance: bigint; pendingWithdrawal: bigint; unlocksAt: bigint };

export type CreateDepositCacheParameters = {
  /** Reads the account at the chain's latest block. */
  read(consumer: Address): Promise<ConsumerAccount>;
  /** How many of the consumer's queries left this worker's unsettled list so far (settled or dropped). */
  settledCount(consumer: Address): bigint;
  /** The most accounts kept; the oldest is forgotten past it. Default 10,000. */
  maxEntries?: number;
};

export type DepositCache = ReturnType<typeof createDepositCache>;

type Entry = { head: string; settledCount: bigint; account: Promise<ConsumerAccount> };

/**
 * Consumers' deposits, read from the chain once per consumer per head block the policy sync has
 * seen, instead of once per query. A deposit changes only in a new block, so a read at the head
 * the worker knows is as fresh as the policy it enforces; the staleness is that of the policy
 * (one poll), and it can only err in these ways:
 *
 * - A deposit not yet seen: the consumer is refused until the next poll. To keep even that from
 *   happening, `available` is asked again with `fresh` before a refusal (see createQueryService).
 * - A withdrawal: `availableOf` counts a requested withdrawal as gone from the moment it is
 *   requested (UsageSettlement unlocks it only after the last settlement window that can charge
 *   what was served before it, so what was served before the request is still paid), and a request
 *   made since the read is seen at the next poll, one head block later.
 * - This worker's own settlements: an entry read before one of the consumer's queries left the
 *   unsettled list is dropped (the `settledCount` changed), so a fee is never counted both in the
 *   unsettled total and, as not yet charged, in the balance.
 * - Other workers' settlements: not seen until the next poll; they are invisible to this worker
 *   anyway until settled (docs/queries.md, known limits).
 */
export function createDepositCache(parameters: CreateDepositCacheParameters) {
  const maxEntries = parameters.maxEntries ?? 10_000;
  const entries = new Map<Address, Entry>();

  function load(consumer: Address, head: string): Promise<ConsumerAccount> {
    const entry: Entry = { head, settledCount: parameters.settledCount(consumer), account: parameters.read(consumer) };
    entries.delete(consumer);
    if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
    entries.set(consumer, entry);
    // A failed read is not kept: the next query reads again.
    entry.account.catch(() => {
      if (entries.get(consumer) === entry) entries.delete(consumer);
    });
    return entry.account;
  }

  return {
    /**
     * The consumer's account at `head` (any string naming the head block, e.g. its hash) or later:
     * from memory when read at that head since the consumer's last settlement, else from the chain.
     * `fresh` reads the chain whatever is kept.
     */
    account(consumer: Address, head: string, options: { fresh?: boolean } = {}): Promise<ConsumerAccount> {
      const entry = entries.get(consumer);
      if (
        !options.fresh &&
        entry !== undefined &&
        entry.head === head &&
        entry.settledCount === parameters.settledCount(consumer)
      ) {
        return entry.account;
      }
      return load(consumer, head);
    },
    size: () => entries.size,
  };
}

/**
 * What the deposit can still pay for new queries: the balance less any requested withdrawal,
 * unlocked or not. A withdrawal waits for the settlement windows of what was served before it, not
 * for what is served after it, so a worker that kept serving against it could go unpaid.
 */
export function availableOf(account: ConsumerAccount): bigint {
  return account.pendingWithdrawal < account.balance ? account.balance - account.pendingWithdrawal : 0n;
}
