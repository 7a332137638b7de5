import { getAddress, type Address, type Hex } from "viem";
import { z } from "zod";
import type { Policy } from "./Policy.ts";

/**
 * A policy as plain JSON: the form the store writes and `GET /v1/policy` answers with. Integers
 * that do not fit a JSON number safely (uint64, uint256) are decimal strings; uint8 values are
 * numbers. Sets and maps become sorted arrays and objects, so the same policy always serialises
 * to the same bytes.
 */

const addressKey = z.string().regex(/^0x[0-9a-fA-F]{40}$/, { error: "must be a 20-byte hex address" });
const address = addressKey.transform((value) => checksummed(value));
const hex = z
  .string()
  .regex(/^0x([0-9a-fA-F]{2})*$/, { error: "must be 0x-prefixed hex bytes" })
  .transform((value) => value as Hex);
const bytes32Key = z.string().regex(/^0x[0-9a-fA-F]{64}$/, { error: "must be 32 bytes of hex" });
const bytes32 = bytes32Key.transform((value) => value.toLowerCase() as Hex);
const decimal = z.string().regex(/^\d+$/, { error: "must be a non-negative decimal integer" });
const uint8 = z.number().int().min(0).max(255);
const uint32 = z
  .number()
  .int()
  .min(0)
  .max(2 ** 32 - 1);
const tierIdKey = z.string().regex(/^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/, { error: "must be a tier id, 0 to 255" });

export const policyJsonSchema = z.object({
  policyVersion: decimal,
  submitters: z.array(address),
  attestation: z.object({
    schemaUID: bytes32,
    attesters: z.array(address),
    minAttestations: uint8,
    maxAge: decimal,
  }),
  quotas: z.record(addressKey, decimal),
  tiers: z.record(
    tierIdKey,
    z.object({ queriesPerEpoch: decimal, pricePerEpoch: decimal, open: z.boolean(), maxMembers: uint32 }),
  ),
  memberships: z.record(addressKey, z.object({ tierId: uint8, fromEpoch: decimal, untilEpoch: decimal })),
  feePerQuery: decimal,
  committee: z.object({
    id: decimal,
    members: z.array(address),
    publicKeys: z.array(hex),
    threshold: uint8,
  }),
  trainingRuns: z.record(
    bytes32Key,
    z.object({ specHash: bytes32, operator: address, expiresAt: decimal, revoked: z.boolean() }),
  ),
  workers: z.array(address),
  revealDelay: decimal,
  guardian: address,
  killSwitch: z.object({
    engaged: z.boolean(),
    engagementId: decimal,
    engagedBy: address,
    engagedAt: decimal,
    reason: z.string(),
  }),
});

/**
 * What `GET /v1/policy?consumer=` adds: where the consumer's quota in the current epoch comes
 * from. A quota the DAO voted wins over a tier membership (`source: "vote"`).
 */
export const consumerAccessJsonSchema = z.object({
  consumer: address,
  epoch: decimal,
  /** Queries per epoch in `epoch`: the registry's `quotaAt(consumer, epoch)`. */
  quota: decimal,
  source: z.enum(["vote", "tier", "none"]),
  votedQuota: decimal,
  /** The latest membership (expired ones too, so a client can offer to renew); null if it never joined. */
  membership: z.object({ tierId: uint8, fromEpoch: decimal, untilEpoch: decimal, active: z.boolean() }).nullable(),
});

export type ConsumerAccessJson = z.input<typeof consumerAccessJsonSchema>;

/** The JSON form, as written (addresses as the chain gave them, checksummed). */
export type PolicyJson = z.input<typeof policyJsonSchema>;

export function toPolicyJson(policy: Policy): PolicyJson {
  return {
    policyVersion: policy.policyVersion.toString(),
    submitters: [...policy.submitters].sort(),
    attestation: {
      schemaUID: policy.attestation.schemaUID,
      attesters: [...policy.attestation.attesters],
      minAttestations: policy.attestation.minAttestations,
      maxAge: policy.attestation.maxAge.toString(),
    },
    quotas: Object.fromEntries(
      [...policy.quotas].sort(([a], [b]) => compare(a, b)).map(([consumer, quota]) => [consumer, quota.toString()]),
    ),
    tiers: Object.fromEntries(
      [...policy.tiers]
        .sort(([a], [b]) => a - b)
        .map(([tierId, tier]) => [
          String(tierId),
          {
            queriesPerEpoch: tier.queriesPerEpoch.toString(),
            pricePerEpoch: tier.pricePerEpoch.toString(),
            open: tier.open,
            maxMembers: tier.maxMembers,
          },
        ]),
    ),
    memberships: Object.fromEntries(
      [...policy.memberships]
        .sort(([a], [b]) => compare(a, b))
        .map(([consumer, membership]) => [
          consumer,
          {
            tierId: membership.tierId,
            fromEpoch: membership.fromEpoch.toString(),
            untilEpoch: membership.untilEpoch.toString(),
          },
        ]),
    ),
    feePerQuery: policy.feePerQuery.toString(),
    committee: {
      id: policy.committee.id.toString(),
      members: [...policy.committee.members],
      publicKeys: [...policy.committee.publicKeys],
      threshold: policy.committee.threshold,
    },
    trainingRuns: Object.fromEntries(
      [...policy.trainingRuns]
        .sort(([a], [b]) => compare(a, b))
        .map(([runId, run]) => [
          runId,
          { specHash: run.specHash, operator: run.operator, expiresAt: run.expiresAt.toString(), revoked: run.revoked },
        ]),
    ),
    workers: [...policy.workers].sort(),
    revealDelay: policy.revealDelay.toString(),
    guardian: policy.guardian,
    killSwitch: {
      engaged: policy.killSwitch.engaged,
      engagementId: policy.killSwitch.engagementId.toString(),
      engagedBy: policy.killSwitch.engagedBy,
      engagedAt: policy.killSwitch.engagedAt.toString(),
      reason: policy.killSwitch.reason,
    },
  };
}

/** Parses and validates the JSON form; throws zod's error when it is malformed. */
export function fromPolicyJson(json: unknown): Policy {
  const parsed = policyJsonSchema.parse(json);
  return {
    policyVersion: BigInt(parsed.policyVersion),
    submitters: new Set(parsed.submitters),
    attestation: {
      schemaUID: parsed.attestation.schemaUID,
      attesters: parsed.attestation.attesters,
      minAttestations: parsed.attestation.minAttestations,
      maxAge: BigInt(parsed.attestation.maxAge),
    },
    quotas: new Map(Object.entries(parsed.quotas).map(([consumer, quota]) => [checksummed(consumer), BigInt(quota)])),
    tiers: new Map(
      Object.entries(parsed.tiers).map(([tierId, tier]) => [
        Number(tierId),
        {
          queriesPerEpoch: BigInt(tier.queriesPerEpoch),
          pricePerEpoch: BigInt(tier.pricePerEpoch),
          open: tier.open,
          maxMembers: tier.maxMembers,
        },
      ]),
    ),
    memberships: new Map(
      Object.entries(parsed.memberships).map(([consumer, membership]) => [
        checksummed(consumer),
        {
          tierId: membership.tierId,
          fromEpoch: BigInt(membership.fromEpoch),
          untilEpoch: BigInt(membership.untilEpoch),
        },
      ]),
    ),
    feePerQuery: BigInt(parsed.feePerQuery),
    committee: {
      id: BigInt(parsed.committee.id),
      members: parsed.committee.members,
      publicKeys: parsed.committee.publicKeys,
      threshold: parsed.committee.threshold,
    },
    trainingRuns: new Map(
      Object.entries(parsed.trainingRuns).map(([runId, run]) => [
        runId.toLowerCase() as Hex,
        { specHash: run.specHash, operator: run.operator, expiresAt: BigInt(run.expiresAt), revoked: run.revoked },
      ]),
    ),
    workers: new Set(parsed.workers),
    revealDelay: BigInt(parsed.revealDelay),
    guardian: parsed.guardian,
    killSwitch: {
      engaged: parsed.killSwitch.engaged,
      engagementId: BigInt(parsed.killSwitch.engagementId),
      engagedBy: parsed.killSwitch.engagedBy,
      engagedAt: BigInt(parsed.killSwitch.engagedAt),
      reason: parsed.killSwitch.reason,
    },
  };
}

/**
 * An address in its EIP-55 form. Policies are written with checksummed addresses (toPolicyJson),
 * so one in mixed case is taken as written: verifying its checksum costs a keccak256 per address,
 * seconds on every restart for a policy with 100,000 submitters. A miscased address can only make
 * a lookup miss (a submitter, worker, attester or consumer refused), never grant anything.
 */
function checksummed(value: string): Address {
  const hex = value.slice(2);
  const mixedCase = hex !== hex.toLowerCase() && hex !== hex.toUpperCase();
  return mixedCase ? (value as Address) : getAddress(value);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
