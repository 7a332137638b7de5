import { encodeAbiParameters, hexToBigInt, keccak256, numberToHex, type Address, type Hex } from "viem";

/**
 * The storage slot of UsageSettlement's `_nonces` mapping: slots 0 and 1 hold EIP712's name and
 * version fallbacks, 2 `_accounts`, 3 `_settled` (ReentrancyGuard keeps its state in a namespaced
 * slot). queries.test.ts settles a query and has a second worker, which only this reading can
 * tell, refuse it; a change to the contract's storage layout fails that test.
 */
export const USAGE_SETTLEMENT_NONCES_SLOT = 4n;

export type CreateSpentNoncesParameters = {
  /** `eth_getStorageAt` at the latest block. */
  readStorage(slot: Hex): Promise<Hex | undefined>;
  /** The most bitmap words kept; the oldest is forgotten past it. Default 10,000. */
  maxEntries?: number;
};

export type SpentNonces = ReturnType<typeof createSpentNonces>;

type Entry = { head: string; bits: Promise<bigint> };

/**
 * Which of a consumer's nonces UsageSettlement has spent, read a 256-nonce word of its bitmap at a
 * time (Permit2's layout: word = nonce >> 8, bit = nonce & 255), once per word per head block the
 * policy sync has seen, instead of one `isNonceUsed` call per query: a client numbering its
 * queries costs one read per 256 queries per block.
 *
 * The bound: a nonce is only ever spent, never freed, so a kept "spent" is always right; a kept
 * "unspent" may miss a settlement in a block the worker has not seen yet, at most one policy poll
 * old (stale policy refuses every query). Such a query is served, counted against this worker's
 * share (so the quota still holds) and dropped at settlement (`UsageNonceAlreadyUsed`): at most the
 * queries one consumer can send in one poll interval go unpaid, against the up to
 * `settlementIntervalSeconds` during which another worker's unsettled copy is invisible anyway.
 */
export function createSpentNonces(parameters: CreateSpentNoncesParameters) {
  const maxEntries = parameters.maxEntries ?? 10_000;
  const entries = new Map<string, Entry>();
  const bitmaps = new Map<Address, Hex>();

  function wordSlot(consumer: Address, word: bigint): Hex {
    let bitmap = bitmaps.get(consumer);
    if (bitmap === undefined) {
      bitmap = keccak256(
        encodeAbiParameters([{ type: "address" }, { type: "uint256" }], [consumer, USAGE_SETTLEMENT_NONCES_SLOT]),
      );
      if (bitmaps.size >= maxEntries) bitmaps.clear();
      bitmaps.set(consumer, bitmap);
    }
    return keccak256(`${numberToHex(word, { size: 32 })}${bitmap.slice(2)}`);
  }

  return {
    /** Whether `nonce` of `consumer` is spent on chain, as of `head` (a string naming the head block) or later. */
    async isSpent(consumer: Address, nonce: bigint, head: string): Promise<boolean> {
      const word = nonce >> 8n;
      const key = `${consumer}!${word}`;
      let entry = entries.get(key);
      if (entry === undefined || entry.head !== head) {
        const bits = parameters.readStorage(wordSlot(consumer, word)).then((value) => hexToBigInt(value ?? "0x0"));
        entry = { head, bits };
        entries.delete(key);
        if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
        entries.set(key, entry);
        const kept = entry;
        // A failed read is not kept: the next query reads again.
        bits.catch(() => {
          if (entries.get(key) === kept) entries.delete(key);
        });
      }
      return ((await entry.bits) >> (nonce & 255n)) & 1n ? true : false;
    },
  };
}
