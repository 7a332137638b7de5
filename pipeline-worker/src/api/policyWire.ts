import { z } from "zod";
import { consumerAccessJsonSchema, policyJsonSchema } from "../policy/policyJson.ts";
import { addressSchema, bytes32Schema, uint256Schema } from "./wireScalars.ts";

/**
 * The wire shapes of the worker's policy routes (`GET /v1/policy`, `GET /v1/eip712`), declared
 * once for the worker (Fastify's JSON schemas derive from them) and its clients: the package
 * exports this file as `@dao-ai/pipeline-worker/policy-api`. The policy itself is the policy
 * store's JSON form (policy/policyJson.ts).
 */

/** A block and the policy version at it; `blockHash` is null before the first sync. */
const cursorSchema = z.object({
  blockNumber: uint256Schema,
  blockHash: bytes32Schema.nullable(),
  policyVersion: uint256Schema,
});

/**
 * `GET /v1/policy[?consumer=]`: the policy the worker enforces now; its cursor (`blockNumber`,
 * `blockHash`, `policyVersion`) is the confirmed one the enforced grants come from.
 */
export const policySnapshotSchema = cursorSchema.extend({
  chainId: z.int(),
  registry: addressSchema,
  /** The policy to enforce: item by item the more restrictive of the confirmed and the head policy. */
  policy: policyJsonSchema,
  /** The newest block seen, with changes not yet confirmed. */
  head: cursorSchema,
  confirmations: z.int(),
  /** Whether the kill switch is engaged at the head but the engagement is not yet confirmed. */
  killSwitchUnconfirmed: z.boolean(),
  epochs: z.object({ epochLength: uint256Schema, epochGenesis: uint256Schema }),
  /** When the poll that produced this snapshot started (ISO 8601). */
  syncedAt: z.string(),
  /** With `?consumer=`: where its quota in the current epoch comes from (a vote or a tier). */
  consumer: consumerAccessJsonSchema.optional(),
});
export type PolicySnapshotWire = z.input<typeof policySnapshotSchema>;

/** EIP-712 typed data without the message: what a client fills in and signs. */
const typedDataSpecSchema = z.object({
  domain: z.object({
    name: z.string(),
    version: z.string(),
    chainId: z.int(),
    verifyingContract: addressSchema,
  }),
  types: z.record(z.string(), z.array(z.object({ name: z.string(), type: z.string() })).readonly()),
  primaryType: z.string(),
});

/** `GET /v1/eip712`: the domains and types of a submission, a query's Usage voucher and a key's grant. */
export const eip712SpecSchema = z.object({
  submission: typedDataSpecSchema,
  usage: typedDataSpecSchema,
  keyGrant: typedDataSpecSchema,
});
export type Eip712Spec = z.infer<typeof eip712SpecSchema>;
