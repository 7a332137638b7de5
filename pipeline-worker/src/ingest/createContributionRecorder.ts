import {
  serializeSignature,
  TransactionReceiptNotFoundError,
  zeroAddress,
  zeroHash,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { revertErrorName } from "../chain/revertErrorName.ts";
import { contributorRewardsAbi } from "../abis.ts";
import type { Logger } from "../internal/createLogger.ts";
import type { Metrics } from "../internal/createMetrics.ts";
import type { Journal, SubmissionRecord } from "../storage/createJournal.ts";
import type { SubmissionEnvelope } from "../api/submissionWire.ts";
import { submissionStatus } from "./submissionStatus.ts";

export type CreateContributionRecorderParameters = {
  publicClient: PublicClient;
  walletClient: WalletClient<Transport, Chain, Account>;
  contributorRewards: Address;
  journal: Journal;
  logger: Logger;
  metrics: Metrics;
  /** Most contributions per transaction. Default 20. */
  batchSize?: number;
  /**
   * Blocks a record transaction must have before its submissions are marked recorded. Default 0:
   * at once. With more, a reorg that drops the transaction leaves them to be sent again.
   */
  confirmations?: number;
  /** Called when a submission is finished (recorded or rejected). */
  onFinished?: (record: SubmissionRecord) => void;
};

/** Errors that say this contribution can never be recorded: the submission is rejected. */
const PERMANENT = new Set([
  "RewardsDuplicateContribution",
  "RewardsSubmitterNotAllowed",
  "RewardsInvalidContribution",
  "RewardsAttestationNotFound",
  "RewardsAttestationWrongSchema",
  "RewardsAttestationUntrustedAttester",
  "RewardsAttestationRevoked",
  "RewardsAttestationExpired",
  "RewardsAttestationTooOld",
  "RewardsAttestationWrongRecipient",
  "RewardsAttestationWrongData",
  "RewardsAttestationBadSignature",
  "RewardsInsufficientAttestations",
]);

/**
 * A submission as ContributorRewards takes it: its weight (the unique records ingest accepted),
 * on-chain attestation UIDs as they are, off-chain attestations as the fields and signature the
 * contract verifies against EAS's domain.
 */
export function contributionInput(envelope: SubmissionEnvelope, weight: bigint) {
  return {
    contributor: envelope.contributor,
    dataHash: envelope.dataHash,
    size: BigInt(envelope.size),
    weight,
    attestationUIDs: envelope.attestations.onchain,
    offchainAttestations: envelope.attestations.offchain.map(({ attester, attestation }) => {
      const m = attestation.message;
      const { r, s, v } = attestation.signature as { r: Hex; s: Hex; v: number };
      return {
        attester,
        schema: m.schema as Hex,
        recipient: m.recipient as Address,
        time: BigInt(m.time),
        expirationTime: BigInt(m.expirationTime),
        revocable: m.revocable,
        refUID: m.refUID as Hex,
        data: m.data as Hex,
        salt: (m.salt ?? zeroHash) as Hex,
        signature: serializeSignature({ r, s, v: BigInt(v) }),
      };
    }),
  };
}

/** The worker's code for a contract's refusal, so the API names it as it names its own checks. */
function workerCodeOf(contractError: string): string {
  if (contractError === "RewardsDuplicateContribution") return "DUPLICATE_SUBMISSION";
  if (contractError === "RewardsSubmitterNotAllowed") return "SUBMITTER_NOT_ALLOWED";
  if (contractError === "RewardsInvalidContribution") return "VALIDATION_FAILED";
  if (contractError === "RewardsInsufficientAttestations") return "ATTESTATION_INSUFFICIENT";
  return "ATTESTATION_INVALID";
}

/**
 * Records stored submissions on chain (ContributorRewards.recordContributions), in batches.
 * Crash-safe through the journal: before sending, each submission is checked on chain
 * (`contributionOf`), so one whose transaction landed before a crash is marked recorded, never
 * sent twice; the contract refuses duplicates anyway. A batch that would revert is split: the
 * contributions that fail for good are rejected with the contract's error, the rest retried; a
 * kill switch or a removed worker leaves them all waiting.
 */
export function createContributionRecorder(parameters: CreateContributionRecorderParameters) {
  const { publicClient, walletClient, journal, logger } = parameters;
  const batchSize = parameters.batchSize ?? 20;
  const confirmations = BigInt(parameters.confirmations ?? 0);
  let running: Promise<number> | undefined;

  // A stored submission always has its validation (ingest refuses data before storing it without
  // one); a weight of 0 would only be refused by the contract, and so rejected, never paid.
  const toInput = (record: SubmissionRecord) =>
    contributionInput(
      record.data.received!.envelope as SubmissionEnvelope,
      BigInt(submissionStatus(record).validation?.weight ?? 0),
    );

  async function recordedOnChain(dataHash: Hex): Promise<boolean> {
    const c = await publicClient.readContract({
      address: parameters.contributorRewards,
      abi: contributorRewardsAbi,
      functionName: "contributionOf",
      args: [dataHash],
    });
    return c.contributor !== zeroAddress;
  }

  /** Whether this worker's transaction is mined but fewer than `confirmations` blocks deep. */
  async function unconfirmed(transactionHash: Hex | null | undefined): Promise<boolean> {
    if (confirmations === 0n || !transactionHash) return false;
    try {
      const receipt = await publicClient.getTransactionReceipt({ hash: transactionHash });
      return (await publicClient.getBlockNumber({ cacheTime: 0 })) - receipt.blockNumber < confirmations;
    } catch (error) {
      // Recorded by another transaction (another worker, or one sent before a crash): final.
      if (error instanceof TransactionReceiptNotFoundError) return false;
      throw error;
    }
  }

  async function finish(record: SubmissionRecord, step: "recorded" | "rejected", data: Record<string, unknown>) {
    const done = await journal.advance(record.id, step, data);
    parameters.metrics.submissions.inc({ outcome: step });
    parameters.onFinished?.(done);
  }

  /** The contract error a single contribution would revert with, or undefined if it would pass. */
  async function simulateOne(record: SubmissionRecord): Promise<string | undefined> {
    try {
      await publicClient.simulateContract({
        account: walletClient.account,
        address: parameters.contributorRewards,
        abi: contributorRewardsAbi,
        functionName: "recordContributions",
        args: [[toInput(record)]],
      });
      return undefined;
    } catch (error) {
      return revertErrorName(error) ?? "unknown";
    }
  }

  async function flushOnce(): Promise<number> {
    const pending = (await journal.listUnfinished()).filter((r) => r.step === "stored" || r.step === "submitted");
    let recorded = 0;
    const ready: SubmissionRecord[] = [];
    for (const record of pending) {
      const { dataHash } = record.data.received!.envelope as SubmissionEnvelope;
      if (await recordedOnChain(dataHash)) {
        // Landed before a crash (even before the journal noted the transaction), or recorded by
        // another worker: the chain is the arbiter.
        const sent = (record.data.submitted as { transactionHash?: string } | undefined)?.transactionHash ?? null;
        // Mined by this worker but not yet deep enough: a reorg could still drop it.
        if (await unconfirmed(sent as Hex | null)) continue;
        if (record.step === "stored") await journal.advance(record.id, "submitted", { transactionHash: sent });
        await finish(record, "recorded", { transactionHash: sent });
        recorded++;
      } else {
        ready.push(record);
      }
    }
    for (let i = 0; i < ready.length; i += batchSize) {
      let batch = ready.slice(i, i + batchSize);
      const accepted: SubmissionRecord[] = [];
      for (const record of batch) {
        const error = await simulateOne(record);
        if (error === undefined) accepted.push(record);
        else if (PERMANENT.has(error))
          await finish(record, "rejected", {
            code: workerCodeOf(error),
            detail: `The contract refused it: ${error}`,
          });
        else logger.warn({ submission: record.id, error }, "contribution cannot be recorded yet; will retry");
      }
      batch = accepted;
      if (batch.length === 0) continue;
      const hash = await walletClient.writeContract({
        address: parameters.contributorRewards,
        abi: contributorRewardsAbi,
        functionName: "recordContributions",
        args: [batch.map(toInput)],
      });
      for (const record of batch) await journal.advance(record.id, "submitted", { transactionHash: hash });
      const receipt = await publicClient.waitForTransactionReceipt({ hash });
      if (receipt.status !== "success") {
        logger.warn({ transactionHash: hash }, "record transaction reverted; will retry");
        continue;
      }
      // Mined but not yet confirmed: a later flush marks them recorded once the block is deep enough.
      if (confirmations > 0n) continue;
      for (const record of batch) {
        await finish(record, "recorded", { transactionHash: hash, blockNumber: receipt.blockNumber.toString() });
        recorded++;
      }
      logger.info(
        { transactionHash: hash, contributions: batch.length, gasUsed: receipt.gasUsed.toString() },
        "contributions recorded on chain",
      );
    }
    return recorded;
  }

  return {
    /** Resolves once a flush in progress (if any) has ended; starts nothing. */
    async settled(): Promise<void> {
      await running?.catch(() => {});
    },
    /** Records everything stored and not yet recorded; concurrent calls share one run. */
    flush(): Promise<number> {
      running ??= flushOnce().finally(() => {
        running = undefined;
      });
      return running;
    },
  };
}

export type ContributionRecorder = ReturnType<typeof createContributionRecorder>;
