import { getAddress, isAddress, zeroAddress, zeroHash, type Address, type Hex } from "viem";

/**
 * The AI's policy as the PolicyRegistry holds it, at one policy version. It is a plain value: the
 * reducer builds a new one for every batch of events and never changes one it has handed out, so
 * a request checked against a `Policy` sees one consistent version from start to finish.
 *
 * Addresses are checksummed (as viem decodes them); run ids are lowercase hex. The registry's
 * mappings are not enumerable on chain, so the sets and maps here hold only the entries that
 * grant something: allowed submitters, consumers with a non-zero quota, authorised workers, and
 * every training run ever approved (revoked or not, as the registry keeps them).
 */
export type Policy = {
  /** Increments by exactly one with every change on chain; 0 before the first change. */
  policyVersion: bigint;
  submitters: ReadonlySet<Address>;
  attestation: AttestationRequirement;
  /** Queries per epoch voted for each consumer; a consumer with no entry has no voted quota. */
  quotas: ReadonlyMap<Address, bigint>;
  /**
   * Every access tier ever set, by id (the registry numbers them from 0). A tier set to 0 queries
   * per epoch is removed but keeps its entry, as the registry's `tier(id)` view still reads it.
   */
  tiers: ReadonlyMap<number, Tier>;
  /** Each consumer's latest tier membership, as the registry's `membershipOf` reads it (expired ones too). */
  memberships: ReadonlyMap<Address, TierMembership>;
  /** In wei. */
  feePerQuery: bigint;
  committee: Committee;
  trainingRuns: ReadonlyMap<Hex, TrainingRun>;
  workers: ReadonlySet<Address>;
  /** Seconds between committing a model and being allowed to reveal it. */
  revealDelay: bigint;
  guardian: Address;
  killSwitch: KillSwitch;
};

/** An access tier the DAO voted: anyone may join an open one by paying, without a proposal. */
export type Tier = {
  /** 0 means the tier does not exist (removed): its members get nothing from it. */
  queriesPerEpoch: bigint;
  /** In wei, per epoch joined. */
  pricePerEpoch: bigint;
  /** A closed tier takes no new members; its members may still renew. */
  open: boolean;
  /** At most this many members in any one epoch; 0 means no limit. */
  maxMembers: number;
};

export type TierMembership = {
  tierId: number;
  /** The first epoch of the membership. */
  fromEpoch: bigint;
  /** The first epoch after it (exclusive). */
  untilEpoch: bigint;
};

export type AttestationRequirement = {
  schemaUID: Hex;
  attesters: readonly Address[];
  minAttestations: number;
  /** Seconds; 0 means no limit. */
  maxAge: bigint;
};

export type Committee = {
  /** Numbers committees from 1; 0 while none is set. */
  id: bigint;
  members: readonly Address[];
  /** Each member's encryption public key, in the order of `members`. */
  publicKeys: readonly Hex[];
  threshold: number;
};

export type TrainingRun = {
  specHash: Hex;
  operator: Address;
  /** Unix seconds. */
  expiresAt: bigint;
  /**
   * Revoked by governance, or its operator removed from the workers since the approval: as the
   * registry's `trainingRun(runId).revoked` reads, authorising the worker again does not undo it.
   */
  revoked: boolean;
};

export type KillSwitch = {
  engaged: boolean;
  /** Numbers engagements from 1; a lift must name the current one. 0 while not engaged. */
  engagementId: bigint;
  /** The zero address while not engaged. */
  engagedBy: Address;
  /** Unix seconds of the block that engaged it; 0 while not engaged. */
  engagedAt: bigint;
  reason: string;
};

/** Fixed at deployment: epoch numbers, and the quotas keyed by them, never shift. */
export type EpochSchedule = {
  /** Seconds. */
  epochLength: bigint;
  /** Unix seconds when epoch 0 started. */
  epochGenesis: bigint;
};

export type CreateGenesisPolicyParameters = {
  /** The guardian the registry was deployed with. */
  guardian: Address;
  /** The reveal delay the registry was deployed with, in seconds. */
  revealDelay: bigint;
};

/**
 * The policy at version 0, as the registry's constructor leaves it. The constructor emits no
 * events, so the two values it sets come from the deployment manifest; the sync checks them
 * against the contract's views once it has caught up.
 */
export function createGenesisPolicy(parameters: CreateGenesisPolicyParameters): Policy {
  return {
    policyVersion: 0n,
    submitters: new Set(),
    attestation: { schemaUID: zeroHash, attesters: [], minAttestations: 0, maxAge: 0n },
    quotas: new Map(),
    tiers: new Map(),
    memberships: new Map(),
    feePerQuery: 0n,
    committee: { id: 0n, members: [], publicKeys: [], threshold: 0 },
    trainingRuns: new Map(),
    workers: new Set(),
    revealDelay: parameters.revealDelay,
    guardian: getAddress(parameters.guardian),
    killSwitch: { engaged: false, engagementId: 0n, engagedBy: zeroAddress, engagedAt: 0n, reason: "" },
  };
}

/** Whether `account` may submit training data. */
export function isSubmitter(policy: Policy, account: string): boolean {
  const address = normalise(account);
  return address !== undefined && policy.submitters.has(address);
}

/** Whether `account` is an authorised worker. */
export function isWorker(policy: Policy, account: string): boolean {
  const address = normalise(account);
  return address !== undefined && policy.workers.has(address);
}

/** Whether `account` is one of the current attestation requirement's trusted attesters. */
export function isTrustedAttester(policy: Policy, account: string): boolean {
  const address = normalise(account);
  return address !== undefined && policy.attestation.attesters.includes(address);
}

/** The quota the DAO voted for `account`, in queries per epoch; 0 when none was voted. */
export function quotaOf(policy: Policy, account: string): bigint {
  const address = normalise(account);
  return address === undefined ? 0n : (policy.quotas.get(address) ?? 0n);
}

/**
 * Queries per epoch `account` may make in `epoch`, as the registry's `quotaAt` computes it: a
 * quota the DAO voted for the account wins (a vote can grant a member more, or less, than its
 * tier); without one, the queries per epoch of the tier it is a member of in that epoch (0 once
 * the tier is removed); otherwise 0.
 */
export function quotaAt(policy: Policy, account: string, epoch: bigint): bigint {
  const voted = quotaOf(policy, account);
  if (voted > 0n) return voted;
  const membership = membershipAt(policy, account, epoch);
  return membership === undefined ? 0n : (policy.tiers.get(membership.tierId)?.queriesPerEpoch ?? 0n);
}

/** Where `account`'s quota in `epoch` comes from, for `GET /v1/policy?consumer=`. */
export function accessOf(policy: Policy, account: Address, epoch: bigint) {
  const votedQuota = quotaOf(policy, account);
  const quota = quotaAt(policy, account, epoch);
  const membership = policy.memberships.get(getAddress(account));
  return {
    consumer: getAddress(account),
    epoch,
    quota,
    source: votedQuota > 0n ? ("vote" as const) : quota > 0n ? ("tier" as const) : ("none" as const),
    votedQuota,
    membership:
      membership === undefined
        ? undefined
        : {
            ...membership,
            // As the registry's joinTier sees it: a membership of a removed tier grants nothing.
            active:
              membershipAt(policy, account, epoch) !== undefined &&
              (policy.tiers.get(membership.tierId)?.queriesPerEpoch ?? 0n) > 0n,
          },
  };
}

/** `account`'s tier membership if it covers `epoch`. */
export function membershipAt(policy: Policy, account: string, epoch: bigint): TierMembership | undefined {
  const address = normalise(account);
  const membership = address === undefined ? undefined : policy.memberships.get(address);
  return membership !== undefined && membership.fromEpoch <= epoch && epoch < membership.untilEpoch
    ? membership
    : undefined;
}

/**
 * Whether a training run is approved at `nowSeconds`: approved, not revoked (its operator not
 * removed since), not expired, and the kill switch not engaged, as the registry's
 * `isTrainingRunApproved` says at a block with that timestamp.
 */
export function isTrainingRunApproved(policy: Policy, runId: Hex, nowSeconds: bigint): boolean {
  const run = policy.trainingRuns.get(runId.toLowerCase() as Hex);
  return run !== undefined && !run.revoked && nowSeconds < run.expiresAt && !policy.killSwitch.engaged;
}

/** The epoch a timestamp falls in, as the registry's `currentEpoch` computes it. */
export function epochAt(schedule: EpochSchedule, timestampSeconds: bigint): bigint {
  if (timestampSeconds < schedule.epochGenesis) return 0n;
  return (timestampSeconds - schedule.epochGenesis) / schedule.epochLength;
}

function normalise(account: string): Address | undefined {
  return isAddress(account, { strict: false }) ? getAddress(account) : undefined;
}
