import { zeroAddress, type Address, type Hex } from "viem";
import { BaseError } from "../internal/BaseError.ts";
import type { PolicyEvent } from "./decodePolicyLog.ts";
import { type KillSwitch, type Policy, type TierMembership, type TrainingRun } from "./Policy.ts";
import { PolicyVersionGapError } from "./PolicyVersionGapError.ts";

/**
 * Applies registry events, in chain order, to a policy and returns the resulting policy. Pure:
 * `policy` is not changed, and the same inputs always give the same output, which is what lets
 * the sync recompute its unconfirmed view from scratch on every poll and roll back to any stored
 * checkpoint.
 *
 * Each event must carry the version after `policy`'s: the registry bumps the version by exactly
 * one per change, so a gap means logs were missed and the result would not be the chain's
 * policy. Then this throws a {@link PolicyVersionGapError} instead.
 */
export function reducePolicy(policy: Policy, events: readonly PolicyEvent[]): Policy {
  if (events.length === 0) return policy;
  // One copy per batch, not per event: a long catch-up applies thousands of events to one draft.
  const submitters = new Set(policy.submitters);
  const quotas = new Map(policy.quotas);
  const tiers = new Map(policy.tiers);
  const memberships = new Map(policy.memberships);
  const workers = new Set(policy.workers);
  const trainingRuns = new Map(policy.trainingRuns);
  let { policyVersion, attestation, feePerQuery, committee, revealDelay, guardian, killSwitch } = policy;

  for (const event of events) {
    if (event.args.policyVersion !== policyVersion + 1n) {
      throw new PolicyVersionGapError({
        expected: policyVersion + 1n,
        actual: event.args.policyVersion,
        blockNumber: event.blockNumber,
        blockHash: event.blockHash,
      });
    }
    policyVersion = event.args.policyVersion;
    switch (event.eventName) {
      case "SubmitterSet":
        toggle(submitters, event.args.submitter, event.args.allowed);
        break;
      case "AttestationRequirementSet":
        attestation = {
          schemaUID: event.args.schemaUID,
          attesters: [...event.args.attesters],
          minAttestations: event.args.minAttestations,
          maxAge: event.args.maxAge,
        };
        break;
      case "QuotaSet":
        // The registry treats a quota of 0 as "not a consumer".
        if (event.args.queriesPerEpoch === 0n) quotas.delete(event.args.consumer);
        else quotas.set(event.args.consumer, event.args.queriesPerEpoch);
        break;
      case "TierSet":
        // A tier set to 0 queries is removed but keeps its entry, as the registry's `tier` view reads it.
        tiers.set(event.args.tierId, {
          queriesPerEpoch: event.args.queriesPerEpoch,
          pricePerEpoch: event.args.pricePerEpoch,
          open: event.args.open,
          maxMembers: event.args.maxMembers,
        });
        break;
      case "TierJoined":
        memberships.set(event.args.consumer, joinedMembership(memberships.get(event.args.consumer), event));
        break;
      case "QueryFeeSet":
        feePerQuery = event.args.feePerQuery;
        break;
      case "CommitteeSet":
        committee = {
          id: event.args.committeeId,
          members: [...event.args.members],
          publicKeys: [...event.args.publicKeys],
          threshold: event.args.threshold,
        };
        break;
      case "TrainingRunApproved": {
        const run: TrainingRun = {
          specHash: event.args.specHash,
          operator: event.args.operator,
          expiresAt: event.args.expiresAt,
          revoked: false,
        };
        trainingRuns.set(runKey(event.args.runId), run);
        break;
      }
      case "TrainingRunRevoked": {
        const key = runKey(event.args.runId);
        const run = trainingRuns.get(key);
        // The registry reverts a revocation of an unknown run, and the version check above
        // rules out a missed approval, so a missing run here means the inputs are corrupt.
        if (run === undefined) {
          throw new BaseError(`TrainingRunRevoked for run ${key}, which was never approved.`, {
            hints: ["The events do not come from one PolicyRegistry: check the registry address."],
          });
        }
        trainingRuns.set(key, { ...run, revoked: true });
        break;
      }
      case "WorkerSet":
        // Removing a worker withdraws every run approved for it, for good: the registry reads
        // them as revoked from then on, even if the worker is authorised again.
        if (!event.args.authorised && workers.has(event.args.worker)) {
          for (const [key, run] of trainingRuns) {
            if (run.operator === event.args.worker && !run.revoked) trainingRuns.set(key, { ...run, revoked: true });
          }
        }
        toggle(workers, event.args.worker, event.args.authorised);
        break;
      case "RevealDelaySet":
        revealDelay = event.args.revealDelay;
        break;
      case "GuardianSet":
        guardian = event.args.newGuardian;
        break;
      case "KillSwitchEngaged":
        if (event.blockTimestamp === undefined) {
          throw new BaseError(`KillSwitchEngaged in block ${event.blockNumber} has no block timestamp.`, {
            hints: ["Fill in `blockTimestamp` from the block header before reducing (fetchPolicyEvents does)."],
          });
        }
        killSwitch = {
          engaged: true,
          engagementId: event.args.engagementId,
          engagedBy: event.args.by,
          engagedAt: event.blockTimestamp,
          reason: event.args.reason,
        };
        break;
      case "KillSwitchLifted":
        killSwitch = DISENGAGED;
        break;
      default:
        assertNever(event);
    }
  }
  return {
    policyVersion,
    submitters,
    attestation,
    quotas,
    tiers,
    memberships,
    feePerQuery,
    committee,
    trainingRuns,
    workers,
    revealDelay,
    guardian,
    killSwitch,
  };
}

type TierJoinedEvent = Extract<PolicyEvent, { eventName: "TierJoined" }>;

/**
 * The membership after a `TierJoined`, as the registry's `membershipOf` then reads it. A join of
 * the same tier from where the previous membership ends keeps its `fromEpoch`: that is a renewal
 * of an active membership, or a join in the epoch it ended, which the registry continues so that
 * the last epoch's quota stays readable while it is settled. Any other join starts afresh.
 */
function joinedMembership(previous: TierMembership | undefined, event: TierJoinedEvent): TierMembership {
  const { tierId, fromEpoch, untilEpoch } = event.args;
  const continues = previous !== undefined && previous.tierId === tierId && previous.untilEpoch === fromEpoch;
  return { tierId, fromEpoch: continues ? previous.fromEpoch : fromEpoch, untilEpoch };
}

// The registry deletes its kill switch struct on lift, so every field reads as zero.
const DISENGAGED: KillSwitch = { engaged: false, engagementId: 0n, engagedBy: zeroAddress, engagedAt: 0n, reason: "" };

function toggle(set: Set<Address>, address: Address, present: boolean) {
  if (present) set.add(address);
  else set.delete(address);
}

function runKey(runId: Hex): Hex {
  return runId.toLowerCase() as Hex;
}

function assertNever(value: never): never {
  throw new BaseError(`Unknown PolicyRegistry event ${(value as { eventName?: string }).eventName}.`);
}
