import type { Address, Hex, PublicClient } from "viem";
import { contributorRewardsAbi } from "../abis.ts";
import type { Logger } from "../internal/createLogger.ts";
import type { ContentStore } from "../storage/ContentStore.ts";
import type { Journal } from "../storage/createJournal.ts";

export type CreateWithdrawalWatcherParameters = {
  publicClient: PublicClient;
  contributorRewards: Address;
  /** The first block to read withdrawals from: the deployment's. */
  fromBlock: bigint;
  journal: Journal;
  store: ContentStore;
  /** The most blocks one `eth_getLogs` request covers. Default 2,000. */
  maxBlockRange?: number;
  logger?: Logger | undefined;
};

export type WithdrawalWatcher = {
  /**
   * Reads the ContributionWithdrawn events since the last poll (joins the poll in progress) and,
   * for each of this worker's submissions of withdrawn data, unpins its ciphertext and manifest
   * and marks it withdrawn in the journal. Resolves to the submissions withdrawn by this poll.
   */
  poll(): Promise<number>;
  /** Resolves once no poll is in flight, so that the journal and store can close under none. */
  settled(): Promise<void>;
};

type Withdrawal = { dataHash: Hex; contributor: Address; transactionHash: Hex };

/**
 * Follows contributors' withdrawals on ContributorRewards. A withdrawal acts at once, without
 * waiting for confirmations, like every restriction the worker follows: a reorg that dropped it
 * would leave the data unpinned, which is what its contributor asked for anyway.
 *
 * The cursor is kept in memory: a restarted worker reads the withdrawals again from the
 * deployment's block, and the journal makes that harmless (a withdrawn submission is skipped).
 * A withdrawal of data the worker has recorded on chain but not yet marked recorded (waiting for
 * confirmations) is kept and tried again at the next poll.
 *
 * Only this node's copies are unpinned: other IPFS nodes that fetched the ciphertext keep theirs
 * (it stays encrypted, and keyholders refuse its key shares, SUBMISSION_WITHDRAWN).
 */
export function createWithdrawalWatcher(parameters: CreateWithdrawalWatcherParameters): WithdrawalWatcher {
  const { publicClient, journal, store, logger } = parameters;
  const span = BigInt(parameters.maxBlockRange ?? 2_000);
  let next = parameters.fromBlock;
  const waiting = new Map<Hex, Withdrawal>();
  let inFlight: Promise<number> | undefined;

  async function pollOnce(): Promise<number> {
    const head = await publicClient.getBlockNumber({ cacheTime: 0 });
    for (let start = next; start <= head; start += span) {
      const end = start + span - 1n < head ? start + span - 1n : head;
      const logs = await publicClient.getContractEvents({
        address: parameters.contributorRewards,
        abi: contributorRewardsAbi,
        eventName: "ContributionWithdrawn",
        fromBlock: start,
        toBlock: end,
        strict: true,
      });
      for (const log of logs) {
        const dataHash = log.args.dataHash.toLowerCase() as Hex;
        waiting.set(dataHash, { dataHash, contributor: log.args.contributor, transactionHash: log.transactionHash });
      }
      next = end + 1n;
    }
    let withdrawn = 0;
    for (const withdrawal of [...waiting.values()]) {
      const outcome = await apply(withdrawal);
      if (outcome !== "waiting") waiting.delete(withdrawal.dataHash);
      if (outcome === "withdrawn") withdrawn += 1;
    }
    return withdrawn;
  }

  /** Withdraws this worker's submission of the data, if it has one. */
  async function apply(withdrawal: Withdrawal): Promise<"withdrawn" | "waiting" | "none"> {
    const records = await journal.listByContributor(withdrawal.contributor);
    const record = records.find(
      (r) =>
        (r.data.received?.envelope as { dataHash?: string } | undefined)?.dataHash?.toLowerCase() ===
          withdrawal.dataHash && r.step !== "rejected",
    );
    if (record === undefined || record.step === "withdrawn") return "none";
    if (record.step !== "recorded") return "waiting";
    const stored = record.data.stored as { manifest?: string; ciphertext?: string } | undefined;
    const unpinned = [stored?.ciphertext, stored?.manifest].filter((cid): cid is string => cid !== undefined);
    for (const cid of unpinned) await store.remove(cid);
    await journal.advance(record.id, "withdrawn", { transactionHash: withdrawal.transactionHash, unpinned });
    logger?.info(
      { submission: record.id, dataHash: withdrawal.dataHash, unpinned },
      "submission withdrawn by its contributor; its ciphertext and manifest are unpinned",
    );
    return "withdrawn";
  }

  return {
    poll() {
      inFlight ??= pollOnce().finally(() => {
        inFlight = undefined;
      });
      return inFlight;
    },
    async settled() {
      await inFlight?.catch(() => {});
    },
  };
}
