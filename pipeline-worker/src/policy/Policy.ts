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
  /** Queries per epoch, by consumer; a consumer with no entry has no quota. */
  quotas: ReadonlyMap<Address, bigint>;
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

/** Queries per epoch `account` may make; 0 when it is not a consumer. */
export function quotaOf(policy: Policy, account: string): bigint {
  const address = normalise(account);
  return address === undefined ? 0n : (policy.quotas.get(address) ?? 0n);
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
