import { formatEth, formatTime, formatTokens } from "./format.ts";

/**
 * What each of the system's custom errors means for the person who met it, in plain words, with
 * what to do where there is something to do. Keyed by error name; the arguments are the decoded
 * error arguments, in order.
 */
type Meaning = string | ((args: readonly unknown[]) => string);

const s = (value: unknown) => String(value);
const eth = (value: unknown) => (typeof value === "bigint" ? formatEth(value) : String(value));
const time = (value: unknown) => (typeof value === "bigint" ? formatTime(value) : String(value));
const tokens = (value: unknown) => (typeof value === "bigint" ? formatTokens(value) : String(value));

export const errorMeanings: Record<string, Meaning> = {
  // PolicyRegistry
  PolicyUnauthorized: "Only the timelock may change policy: this change has to go through a proposal.",
  PolicyNotGuardian: "Only the guardian (or the timelock) may engage the kill switch.",
  PolicyKillSwitchAlreadyEngaged: "The kill switch is already engaged.",
  PolicyKillSwitchNotEngaged: "The kill switch is not engaged, so there is nothing to lift.",
  PolicyKillSwitchEngagementMismatch: (a) =>
    `This lift names engagement ${s(a[0])}, but the kill switch in force is engagement ${s(a[1])}: a vote on an earlier incident does not lift a later one. Propose a lift of engagement ${s(a[1])}.`,
  PolicyZeroAddress: "An address is zero where a real account is needed.",
  PolicyLengthMismatch: (a) => `Two lists that go together have different lengths (${s(a[0])} and ${s(a[1])}).`,
  PolicyInvalidAttestationRequirement: (a) =>
    `The attestation requirement is impossible: ${s(a[0])} attestations required from ${s(a[1])} trusted attester(s), or no schema.`,
  PolicyInvalidCommittee: (a) =>
    `A committee's threshold must be between 1 and its size (threshold ${s(a[0])}, ${s(a[1])} members), and its members distinct.`,
  PolicyInvalidPublicKey: (a) =>
    `The public key of committee member ${s(a[0])} is not a 33-byte compressed secp256k1 key (0x02 or 0x03, then a point on the curve).`,
  PolicyDuplicatePublicKey: (a) =>
    `Committee members ${s(a[1])} and ${s(a[0])} have the same public key: its holder would open both shares.`,
  PolicyInvalidRevealDelay: (a) => `The reveal delay may be at most ${s(a[1])} seconds (a year); ${s(a[0])} was given.`,
  PolicyDuplicateAddress: (a) => `${s(a[0])} appears twice where each address must be unique.`,
  PolicyTrainingRunExists: "A training run with this id already exists: choose another id.",
  PolicyUnknownTrainingRun: "No training run with this id exists.",
  PolicyInvalidTrainingRun:
    "The training run's expiry is in the past, or its operator is not a worker the DAO authorised.",
  PolicyInvalidReason: "The kill switch reason must be 1 to 280 bytes long.",
  PolicyInvalidEpochLength: "An epoch must last at least one second.",
  PolicyInvalidTier: (a) =>
    `Tier ids go in order: a new tier takes the next id (${s(a[1])}), at most 254, and must grant at least one query per epoch; tier ${s(a[0])} cannot be set.`,
  PolicyUnknownTier: (a) => `Tier ${s(a[0])} does not exist: it was never set, or the DAO removed it.`,
  PolicyTierClosed: (a) =>
    `Tier ${s(a[0])} is closed to new members (its members may still renew). Choose an open tier, or ask the DAO to open it.`,
  PolicyTierFull: (a) =>
    `Tier ${s(a[0])} already has its ${s(a[2])} members in epoch ${s(a[1])}. Join for fewer epochs, choose another tier, or try once places free up.`,
  PolicyTierWrongPayment: (a) =>
    `The payment must be exactly the tier's price times the epochs joined: ${eth(a[0])} expected, ${eth(a[1])} sent.`,
  PolicyInvalidTierEpochs: (a) => `A membership is bought for 1 to ${s(a[1])} epochs at a time; ${s(a[0])} were asked.`,
  PolicyTierMembershipActive: (a) =>
    `You are a member of tier ${s(a[0])} until epoch ${s(a[1])}: one tier at a time. Renew that tier, or join this one once it ends.`,
  PolicyTransferFailed: (a) =>
    `Forwarding the payment of ${eth(a[1])} to the treasury ${s(a[0])} failed; nothing was paid.`,

  // ContributorRewards
  RewardsNotWorker: "Only a worker the DAO authorised may record contributions.",
  RewardsKillSwitchEngaged: "The kill switch is engaged: no contribution or fee is taken in.",
  RewardsSubmitterNotAllowed: (a) => `${s(a[0])} is not on the submitter allowlist.`,
  RewardsDuplicateContribution: "This data was already recorded; nobody is paid twice for the same data.",
  RewardsInvalidContribution: "A contribution needs a non-zero hash and size.",
  RewardsAttestationNotFound: "An attestation does not exist on EAS.",
  RewardsAttestationWrongSchema: "An attestation uses another schema than the policy requires.",
  RewardsAttestationUntrustedAttester: (a) => `Attester ${s(a[1])} is not trusted by the policy.`,
  RewardsAttestationRevoked: "An attestation was revoked.",
  RewardsAttestationExpired: "An attestation has expired.",
  RewardsAttestationTooOld: "An attestation is older than the policy's maximum age.",
  RewardsAttestationWrongRecipient: "An attestation is about someone else.",
  RewardsAttestationWrongData: "An attestation is about other data (its hash or size differ).",
  RewardsNoAttestationRequirement:
    "The DAO has not set an attestation requirement yet, so no contribution can be checked.",
  RewardsInsufficientAttestations: (a) =>
    `Only ${s(a[0])} distinct trusted attester(s) attested; the policy requires ${s(a[1])}.`,
  RewardsEpochNotOver: (a) => `Epoch ${s(a[0])} is not over yet (it is epoch ${s(a[1])}): claim once it has ended.`,
  RewardsEpochHasContributions: "This epoch had contributions, so its pool belongs to its contributors.",
  RewardsNothingToClaim: (a) => `There is nothing (left) to claim for epoch ${s(a[0])}.`,
  RewardsZeroAmount: "The amount must be more than zero.",
  RewardsTransferFailed: "Sending the payment failed: the receiving account refused it.",
  RewardsNotTimelock: "Only the timelock may void a contribution: it takes a proposal.",
  RewardsUnknownContribution: "No contribution of this data hash is recorded.",
  RewardsContributionVoided: "This contribution was already voided.",
  RewardsNotContributor: "Only the contribution's contributor can withdraw it: connect that account.",
  RewardsContributionWithdrawn: "This contribution was already withdrawn.",
  RewardsContributionClaimed: (a) =>
    `The contributor already claimed from epoch ${s(a[1])}: what was paid cannot be taken back, so this contribution can no longer be voided.`,

  // UsageSettlement
  UsageNotWorker: "Only a worker the DAO authorised may settle usage.",
  UsageEmptyBatch: "A settlement must carry at least one voucher or key lane.",
  UsageInvalidSignature:
    "The voucher's signature is not the consumer's (neither its key's ECDSA nor its account's ERC-1271).",
  UsageInvalidKeySignature: "The Usage voucher is not signed by the session key its grant names.",
  UsageExceedsQuota: (a) => `This would take usage in epoch ${s(a[1])} to ${s(a[2])}, past the quota of ${s(a[3])}.`,
  UsageFutureEpoch: "The usage is for an epoch that has not started.",
  UsageSettlementWindowClosed: (a) =>
    `Epoch ${s(a[0])} can no longer be settled: its settlement window closed at ${time(a[1])}.`,
  UsageVoucherExpired: "The voucher's deadline (with its grace) has passed, or falls before its epoch.",
  UsageNothingToSettle: (a) =>
    `The lane's total ${s(a[3])} is not above what is settled already (${s(a[4])}): nothing is charged twice.`,
  UsageInvalidKeyGrant: "The key grant is not signed by the consumer it names.",
  UsageKeyWrongWorker: "This key is granted for another worker.",
  UsageKeyExpired: "The key's grant has expired (and its settlement window with it).",
  UsageKeyRevoked: (a) =>
    `The key was already revoked (at ${time(a[2])}): workers refuse it, and nothing of it settles after the grace.`,
  UsageKeyCapExceeded: (a) => `This would take the key to ${s(a[1])} queries, past its cap of ${s(a[2])}.`,
  UsageSettlementWindowOpen: (a) =>
    `Epoch ${s(a[0])}'s fees can be swept only once its settlement window closes, at ${time(a[1])}.`,
  UsageFeesAlreadySwept: (a) => `Epoch ${s(a[0])}'s fees were already swept to the reward pool.`,
  UsageInsufficientDeposit: "The consumer's deposit cannot pay the query fee: deposit more.",
  UsageInvalidAmount: "The amount must be more than zero and at most the deposit.",
  UsageWithdrawalLocked: "The withdrawal is not unlocked yet, or none was requested.",
  UsageTransferFailed: "Sending the payment failed: the receiving account refused it.",

  // ModelCommitments
  ModelNotOperator: "Only the run's operator may commit or reveal its model.",
  ModelRunNotApproved: "The training run is not approved (unknown, revoked or expired).",
  ModelAlreadyCommitted: "This run already has a model commitment.",
  ModelNotCommitted: "This run has no model commitment.",
  ModelRevealTooEarly: "The reveal delay has not passed yet.",
  ModelAlreadyRevealed: "The model was already revealed.",
  ModelEmptyValue: "A hash or URI is empty.",
  ModelKillSwitchEngaged: "The kill switch is engaged: no model is committed or revealed.",
  ModelRunRevoked:
    "The DAO withdrew this run (revoked it, or removed its operator) after its model was committed: it is not revealed.",
  ModelNoContributions: "A model must commit the contributions it learned from (a non-zero root and total weight).",

  // RunRewards
  RunRewardsZeroAmount: "Funding must be more than zero.",
  RunRewardsNotCommitted: "This run has no model commitment, so its pool cannot be funded.",
  RunRewardsNotFunded: "The model's pool has received nothing yet: there is nothing to claim.",
  RunRewardsInvalidProof: "The proof does not show this contribution and weight in the model's contributions tree.",
  RunRewardsNothingToClaim: "There is nothing (left) to claim for this contribution from this model.",
  RunRewardsContributionVoided: "A vote voided this contribution: it is paid from no pool.",
  RunRewardsKillSwitchEngaged: "The kill switch is engaged: rewards are paid again once a vote lifts it.",
  RunRewardsTransferFailed: "Sending the reward failed: the receiving account refused it.",
  UsageRunFeesAlreadySwept: "This model's fees of that epoch were already sent to its contributions.",
  UsageRunNotCommitted: "A worker can only serve a run whose model is committed.",
  UsageRunRevoked: "The DAO revoked this run: its model is not to be served.",
  UsageNoRun: "Run zero is no model: its fees are swept with sweepFees.",

  // Governor (OpenZeppelin)
  GovernorInsufficientProposerVotes: (a) =>
    `You need ${tokens(a[2])} votes to propose; you had ${tokens(a[1])} at the previous block. Delegate to yourself first (it counts from the next block), or ask holders to delegate to you.`,
  GovernorUnexpectedProposalState:
    "The proposal is not in a state that allows this (for example, voting has not opened or has closed).",
  GovernorAlreadyCastVote: "This account has already voted on this proposal.",
  GovernorNonexistentProposal: "No such proposal exists.",
  GovernorInvalidProposalLength: "A proposal's targets, values and calldatas must have the same, non-zero length.",
  GovernorOnlyExecutor: "Only the timelock may do this: it takes a proposal.",
  GovernorRestrictedProposer: "This description restricts who may submit the proposal.",
  GovernorUnableToCancel:
    "Only the proposer (before voting opens) or the proposal guardian may cancel this proposal, and the guardian cannot cancel one that only replaces the guardian or lifts the kill switch.",
  GovernorInvalidVoteType: "The vote must be for, against or abstain.",
  GovernorAlreadyQueuedProposal: "The proposal is already queued.",
  GovernorProposalQueueingNotRequired: "The proposal does not need queueing.",
  GovernorInvalidSignature: "The ballot's signature is not the voter's.",
  GovernorDisabledDeposit: "The Governor does not accept deposits: send funds to the treasury (the timelock).",
  GovernorInvalidVotingPeriod: "The voting period must be at least one block.",
  GovernorInvalidQuorumFraction: "The quorum fraction must be at most 100%.",

  // TimelockController (OpenZeppelin)
  TimelockUnexpectedOperationState:
    "The timelock operation is not ready: it is not queued, its delay has not passed, or it already ran.",
  TimelockInsufficientDelay: "The delay is shorter than the timelock's minimum.",
  TimelockUnauthorizedCaller: "Only the Governor may schedule or cancel timelock operations.",
  TimelockUnexecutedPredecessor: "An earlier operation this one depends on has not run yet.",
  AccessControlUnauthorizedAccount: "The account lacks the role this needs.",
  FailedCall: "A call made by the proposal failed without a reason (for example, not enough funds in the treasury).",

  // GovernanceToken (OpenZeppelin)
  ERC20InsufficientBalance: "The balance is too low for this transfer.",
  ERC5805FutureLookup: "That block has not been mined yet, so votes at it are not known.",
  VotesExpiredSignature: "The delegation signature has expired.",

  // EAS
  InvalidSchema: "The attestation's schema is not registered on EAS.",
  AccessDenied: "Only the attester may do this.",
  AlreadyRevoked: "The attestation was already revoked.",
  NotFound: "No such attestation exists on EAS.",
  InvalidExpirationTime: "The attestation's expiry is in the past.",
};

/** What Safe's short revert strings mean (Safe reverts with strings such as "GS013", not custom errors). */
export const safeErrorMeanings: Record<string, string> = {
  GS013: "The Safe transaction failed (its call reverted) and no gas price was set.",
  GS020: "Signatures data is too short for the Safe's threshold: more owners must sign.",
  GS025: "The Safe's threshold is not set up.",
  GS026: "A signature is not from an owner of the Safe, or signatures are not ordered by owner address.",
  GS001: "The Safe's threshold is not set up.",
};

export function meaningOf(name: string, args: readonly unknown[]): string | undefined {
  const meaning = errorMeanings[name];
  if (meaning === undefined) return undefined;
  return typeof meaning === "string" ? meaning : meaning(args);
}
