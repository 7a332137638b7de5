import type { AbiParameter } from "viem";
import { errorNatspec } from "./errorNatspec.ts";
import { formatTokens } from "./format.ts";

/**
 * What each of the system's custom errors means for the person who met it. The project's own
 * errors mean what their NatSpec says (`errorNatspec.ts`, generated from the contracts by `npm run
 * generate:error-meanings`), so the words are written once, beside the error. The libraries' errors
 * (OpenZeppelin's, EAS's) have NatSpec written for Solidity developers, or none: those read as
 * written here, in the user's terms and with what to do.
 */
type Meaning = string | ((args: readonly unknown[]) => string);

const tokens = (value: unknown) => (typeof value === "bigint" ? formatTokens(value) : String(value));

/** Meanings of the libraries' errors, keyed by error name; the arguments are the decoded ones, in order. */
export const libraryErrorMeanings: Record<string, Meaning> = {
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
  AlreadyExists: "This schema is already registered on EAS.",
  AlreadyRevokedOffchain: "This off-chain attestation's revocation was already recorded.",
  AlreadyTimestamped: "This data was already timestamped on EAS.",
  DeadlineExpired: "The signature's deadline has passed: sign again.",
  InsufficientValue: "The value sent does not cover what the attestations pay to their schema's resolver.",
  InvalidAttestation: "EAS refused the attestation (its schema's resolver rejected it).",
  InvalidAttestations: "EAS refused one of the attestations (its schema's resolver rejected it).",
  InvalidLength: "Lists that go together have different lengths, or a list is empty.",
  InvalidNonce: "A nonce can only be raised, never lowered or kept.",
  InvalidOffset: "A range given to EAS is out of bounds.",
  InvalidRegistry: "The schema registry EAS was given is not a registry.",
  InvalidRevocation: "EAS refused the revocation (its schema's resolver rejected it).",
  InvalidRevocations: "EAS refused one of the revocations (its schema's resolver rejected it).",
  InvalidSignature: "The signature is not the attester's (or was made for another EAS or chain).",
  InvalidVerifier: "The signature verifier EAS was given is not valid.",
  Irrevocable: "This attestation's schema does not allow revocation.",
  NotPayable: "This schema's resolver takes no payment: send no value.",
  WrongSchema: "The attestation belongs to another schema than the one named.",

  // OpenZeppelin utilities
  InvalidShortString: "A short text stored by the contract is malformed.",
  StringTooLong: "A text is longer than the 31 bytes the contract stores it in.",
};

/** What Safe's short revert strings mean (Safe reverts with strings such as "GS013", not custom errors). */
export const safeErrorMeanings: Record<string, string> = {
  GS013: "The Safe transaction failed (its call reverted) and no gas price was set.",
  GS020: "Signatures data is too short for the Safe's threshold: more owners must sign.",
  GS025: "The Safe's threshold is not set up.",
  GS026: "A signature is not from an owner of the Safe, or signatures are not ordered by owner address.",
  GS001: "The Safe's threshold is not set up.",
};

/** Whether an error is declared in the project's own contracts (whose NatSpec is its meaning). */
export function isProjectError(name: string): boolean {
  return errorNatspec[name]?.source.startsWith("contracts/") ?? false;
}

/**
 * The meaning of error `name` with these arguments: a library's as written here, else the error's
 * NatSpec with each argument it names in backticks filled in ("`tierId`" becomes "3").
 */
export function meaningOf(name: string, args: readonly unknown[], inputs: readonly AbiParameter[]): string | undefined {
  const written = isProjectError(name) ? undefined : libraryErrorMeanings[name];
  if (written !== undefined) return typeof written === "string" ? written : written(args);
  const text = errorNatspec[name]?.text;
  if (!text) return undefined;
  return text.replace(/`([^`]+)`/g, (_, word: string) => {
    const i = inputs.findIndex((input) => input.name === word);
    return i === -1 || i >= args.length ? word : argText(args[i]);
  });
}

function argText(value: unknown): string {
  if (Array.isArray(value)) return value.map(argText).join(", ");
  return String(value);
}
