import type { Address, Hex } from "viem";
import type { AttestationRequirement, Policy, Tier, TierMembership, TrainingRun } from "./Policy.ts";

/**
 * The policy the worker enforces: item by item, the more restrictive of the confirmed policy
 * (events with enough confirmations) and the tip policy (the confirmed one plus the events of the
 * last few blocks). So a change that takes something away acts as soon as it is seen, and a
 * change that grants something waits for its confirmations; a reorg can then only ever withdraw a
 * restriction early, never a grant.
 *
 * - kill switch: engaged if engaged in either (the tip's details when only the tip has it);
 * - submitters, workers: only those in both;
 * - attestations: trusted attesters in both, the larger minimum, the shorter maximum age; if the
 *   schemas differ no attestation can satisfy both, so no attester is trusted until the change
 *   is confirmed;
 * - quota: the smaller (absent in either means none); fee: the larger;
 * - tiers: the fewer queries per epoch, the higher price, open only if open in both, the smaller
 *   member limit (0, no limit, is the largest); a tier in only one of them does not exist;
 * - memberships: the epochs both cover, in the same tier, so a join (a grant) waits for its
 *   confirmations, as a voted quota does;
 * - training runs: approved only if approved and unrevoked in both;
 * - reveal delay: the longer, so weights are never revealed early;
 * - committee and guardian: the confirmed ones, since neither is more restrictive than the other
 *   and key shares must only go to keyholders the DAO's decision has settled on.
 *
 * The result carries the confirmed policy version: it grants nothing beyond that version.
 */
export function mostRestrictivePolicy(confirmed: Policy, tip: Policy): Policy {
  if (confirmed === tip || confirmed.policyVersion === tip.policyVersion) return confirmed;
  const quotas = new Map<Address, bigint>();
  for (const [consumer, quota] of confirmed.quotas) {
    const other = tip.quotas.get(consumer);
    if (other !== undefined) quotas.set(consumer, quota < other ? quota : other);
  }
  const tiers = new Map<number, Tier>();
  for (const [tierId, tier] of confirmed.tiers) {
    const other = tip.tiers.get(tierId);
    if (other !== undefined) tiers.set(tierId, restrictTier(tier, other));
  }
  const memberships = new Map<Address, TierMembership>();
  for (const [consumer, membership] of confirmed.memberships) {
    const other = tip.memberships.get(consumer);
    if (other === undefined || other.tierId !== membership.tierId) continue;
    const fromEpoch = membership.fromEpoch > other.fromEpoch ? membership.fromEpoch : other.fromEpoch;
    const untilEpoch = membership.untilEpoch < other.untilEpoch ? membership.untilEpoch : other.untilEpoch;
    if (fromEpoch < untilEpoch) memberships.set(consumer, { tierId: membership.tierId, fromEpoch, untilEpoch });
  }
  const trainingRuns = new Map<Hex, TrainingRun>();
  for (const [runId, run] of confirmed.trainingRuns) {
    // Run ids are never reused, so the two entries differ at most in `revoked`.
    const other = tip.trainingRuns.get(runId);
    if (other !== undefined) trainingRuns.set(runId, other.revoked && !run.revoked ? other : run);
  }
  return {
    policyVersion: confirmed.policyVersion,
    submitters: intersect(confirmed.submitters, tip.submitters),
    attestation: restrictAttestation(confirmed.attestation, tip.attestation),
    quotas,
    tiers,
    memberships,
    feePerQuery: confirmed.feePerQuery > tip.feePerQuery ? confirmed.feePerQuery : tip.feePerQuery,
    committee: confirmed.committee,
    trainingRuns,
    workers: intersect(confirmed.workers, tip.workers),
    revealDelay: confirmed.revealDelay > tip.revealDelay ? confirmed.revealDelay : tip.revealDelay,
    guardian: confirmed.guardian,
    killSwitch: confirmed.killSwitch.engaged || !tip.killSwitch.engaged ? confirmed.killSwitch : tip.killSwitch,
  };
}

function intersect<T>(a: ReadonlySet<T>, b: ReadonlySet<T>): ReadonlySet<T> {
  if (a === b) return a;
  const result = new Set<T>();
  for (const item of a) if (b.has(item)) result.add(item);
  return result;
}

function restrictTier(a: Tier, b: Tier): Tier {
  if (a === b) return a;
  return {
    queriesPerEpoch: a.queriesPerEpoch < b.queriesPerEpoch ? a.queriesPerEpoch : b.queriesPerEpoch,
    pricePerEpoch: a.pricePerEpoch > b.pricePerEpoch ? a.pricePerEpoch : b.pricePerEpoch,
    open: a.open && b.open,
    maxMembers:
      a.maxMembers === 0 ? b.maxMembers : b.maxMembers === 0 ? a.maxMembers : Math.min(a.maxMembers, b.maxMembers),
  };
}

function restrictAttestation(a: AttestationRequirement, b: AttestationRequirement): AttestationRequirement {
  if (a === b) return a;
  const attesters = a.schemaUID === b.schemaUID ? a.attesters.filter((attester) => b.attesters.includes(attester)) : [];
  return {
    schemaUID: a.schemaUID,
    attesters,
    minAttestations: Math.max(a.minAttestations, b.minAttestations),
    maxAge: shorterMaxAge(a.maxAge, b.maxAge),
  };
}

// A maximum age of 0 means no limit, so it is the longest, not the shortest.
function shorterMaxAge(a: bigint, b: bigint): bigint {
  if (a === 0n) return b;
  if (b === 0n) return a;
  return a < b ? a : b;
}
