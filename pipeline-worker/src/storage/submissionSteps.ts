/**
 * The life of a submission in the worker, as the journal records it. A submission moves forward
 * only; `rejected` can end it from any step before it is recorded on chain. The journal holds
 * the invariant that a record's step is reachable from `received` through these transitions, and
 * that its history lists the steps it went through in order.
 *
 *   received  -> verified -> stored -> submitted -> recorded -> withdrawn
 *        \___________\__________\__________\_____-> rejected
 *
 * - received:  the payload and its signed metadata are accepted for processing.
 * - verified:  signature, allowlist and attestations hold under the policy version recorded.
 * - stored:    ciphertext and wrapped key shares are on IPFS (their CIDs recorded).
 * - submitted: the on-chain record transaction was sent (its hash recorded). Repeatable: a
 *              transaction that was dropped is sent again, and each attempt is recorded.
 * - recorded:  the transaction is confirmed; the submission is done unless withdrawn.
 * - withdrawn: its contributor withdrew it on chain (ContributionWithdrawn); the worker unpinned
 *              its ciphertext and manifest (the CIDs unpinned recorded).
 * - rejected:  the submission will never be recorded (the reason and error code recorded).
 */
export const SUBMISSION_STEPS = [
  "received",
  "verified",
  "stored",
  "submitted",
  "recorded",
  "withdrawn",
  "rejected",
] as const;

export type SubmissionStep = (typeof SUBMISSION_STEPS)[number];

export const NEXT_STEPS: Record<SubmissionStep, readonly SubmissionStep[]> = {
  received: ["verified", "rejected"],
  verified: ["stored", "rejected"],
  stored: ["submitted", "rejected"],
  submitted: ["submitted", "recorded", "rejected"],
  recorded: ["withdrawn"],
  withdrawn: [],
  rejected: [],
};

/**
 * Whether the worker has nothing left to do for a submission, so that resuming skips it: recorded
 * (only its contributor can take it further, by withdrawing it on chain), withdrawn or rejected.
 */
export function isTerminalStep(step: SubmissionStep): boolean {
  return step === "recorded" || NEXT_STEPS[step].length === 0;
}
