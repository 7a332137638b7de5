import type { Hex } from "viem";
import { z } from "zod";
import type { KeyGrantMessage } from "../chain/typedData.ts";
import {
  addressSchema,
  bytes32Schema,
  hexSchema,
  signatureSchema,
  uint256Schema,
  uint64Schema,
} from "./wireScalars.ts";

/**
 * The wire shapes of the worker's consumer routes (`POST /v1/queries`, `GET /v1/quota`, and the
 * receipt and usage every answer carries), declared once for the worker (Fastify's JSON schemas
 * derive from them), its tests and its clients: the package exports this file as
 * `@dao-ai/pipeline-worker/consumer-api`. Numbers that may exceed 2^53 (uint64, uint256) travel
 * as decimal strings (wireScalars.ts).
 */

/**
 * The signed fields of a request, in the body of `POST /v1/queries` or (the same names) in the
 * `x-query-*` headers of the OpenAI-compatible routes: a Usage voucher (GET /v1/eip712) over
 * this worker, the lane (consumer, key, epoch) and a running `total`, signed by the consumer
 * (`key` absent or zero) or by the session key named in `key`.
 */
export const signedUsageFields = {
  consumer: addressSchema,
  /** The session key that signed, when not the consumer's own wallet. */
  key: addressSchema.optional(),
  /** The epoch whose quota the query counts against: the current one. */
  epoch: uint64Schema,
  /** The query's position in the lane's running total: any total not yet served in the lane. */
  total: uint64Schema,
  /** The most the consumer lets the worker charge per query, in wei (uint256). */
  maxFeePerQuery: uint256Schema,
  /** Unix seconds after which the worker refuses the voucher. */
  deadline: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
  signature: signatureSchema,
};

/** `POST /v1/queries` with a signed voucher: the input is signed as keccak256 of its UTF-8 bytes. */
export const signedQueryRequestSchema = z.strictObject({
  ...signedUsageFields,
  input: z.string().min(1),
});
export type SignedQueryRequest = z.infer<typeof signedQueryRequestSchema>;

/** `POST /v1/queries` with an API key (`Authorization: Bearer dao_sk_...`): the input alone. */
export const bearerQueryRequestSchema = z.strictObject({ input: z.string().min(1) });
export type BearerQueryRequest = z.input<typeof bearerQueryRequestSchema>;

/** A consumer's usage in the current epoch, as this worker counts it. */
export const queryUsageSchema = z.object({
  epoch: uint64Schema,
  /** Unix seconds at which the epoch ends and the quota is restored. */
  epochEndsAt: z.int(),
  /** The consumer's quota per epoch (PolicyRegistry.quotaAt: a voted quota, else its tier's). */
  quota: uint64Schema,
  /**
   * The queries this worker charges the consumer in the epoch: the sum over its lanes of the
   * highest total served, which is what settlement charges.
   */
  used: uint64Schema,
  /** How many more this worker will serve in the epoch (its share minus `used`). */
  remaining: uint64Schema,
  /** The part of the quota this worker serves; the workers' shares add up to the quota. */
  share: z.object({ workerIndex: z.int(), workerCount: z.int(), queries: uint64Schema }),
  /** The lowest total not yet served in the lane of the request (or of the consumer's own wallet). */
  nextTotal: uint64Schema,
});
export type QueryUsage = z.infer<typeof queryUsageSchema>;

/** `GET /v1/quota?consumer=`: the consumer's usage at this worker, and what to sign next. */
export const quotaStatusSchema = queryUsageSchema.extend({
  consumer: addressSchema,
  /** This worker: the `worker` of the Usage vouchers it accepts. */
  worker: addressSchema,
  /** The policy's fee per query now, in wei: sign a `maxFeePerQuery` at least this. */
  feePerQuery: uint256Schema,
});
export type QuotaStatus = z.infer<typeof quotaStatusSchema>;

/** The worker's signed receipt (pipeline-worker/src/inference/queryReceipt.ts says what it binds). */
export const queryReceiptSchema = z.object({
  version: z.literal(2),
  worker: addressSchema,
  /** The EIP-712 digest of the Usage voucher the query was served under (zero for a bearer key). */
  usageDigest: bytes32Schema,
  inputHash: bytes32Schema,
  answerHash: bytes32Schema,
  model: z.string(),
  modelHash: bytes32Schema,
  consumer: addressSchema,
  key: addressSchema,
  epoch: uint64Schema,
  total: uint64Schema,
  quota: uint64Schema,
  digest: bytes32Schema,
  signature: hexSchema(/^0x[0-9a-fA-F]*$/, "0x and hex digits"),
});
export type QueryReceiptWire = z.infer<typeof queryReceiptSchema>;

/** The answer of `POST /v1/queries`: a label and a coarse score, the usage after it, the receipt. */
export const queryResponseSchema = z.object({
  answer: z.object({ label: z.string(), score: z.enum(["low", "medium", "high"]) }),
  usage: queryUsageSchema,
  receipt: queryReceiptSchema,
});
export type QueryResponse = z.infer<typeof queryResponseSchema>;

/**
 * One lane's usage in one epoch at this worker (`GET /v1/usage`): a lane is (consumer, key, worker,
 * epoch), `key` the zero address for the consumer's own wallet.
 */
export const usageLaneSchema = z.object({
  epoch: uint64Schema,
  key: addressSchema,
  worker: addressSchema,
  /** Queries this worker answered in the lane. */
  served: uint64Schema,
  /** The highest total served: what settlement charges (at most `served` more than the settled part). */
  charged: uint64Schema,
  /** The lane's total settled on chain (`UsageSettlement.settledTotal`). */
  settledTotal: uint64Schema,
  /** Fees paid on chain for the lane, in wei (the `UsageSettled` events' fees). */
  paidWei: uint256Schema,
  /**
   * `open`: charged above what is settled, not sent yet; `pending`: sent for settlement in
   * `transactionHash`, not yet mined and confirmed; `settled`: settled on chain up to `charged`;
   * `dropped`: the contract refuses it for good (`reason` says why), so what is above
   * `settledTotal` is never charged.
   */
  state: z.enum(["open", "pending", "settled", "dropped"]),
  /** The lane's last settlement transaction, if any. */
  transactionHash: bytes32Schema.nullable(),
  /** Why the lane was dropped. */
  reason: z.string().nullable(),
});
export type UsageLane = z.infer<typeof usageLaneSchema>;

/** `GET /v1/usage?consumer=`: a consumer's usage history at this worker, newest epoch first. */
export const usageHistorySchema = z.object({
  consumer: addressSchema,
  worker: addressSchema,
  lanes: z.array(usageLaneSchema),
});
export type UsageHistory = z.infer<typeof usageHistorySchema>;

/** The CSV export's columns (`GET /v1/usage?format=csv`), in order: one row per lane. */
export const USAGE_CSV_COLUMNS = [
  "consumer",
  "epoch",
  "worker",
  "key",
  "served",
  "charged",
  "settledTotal",
  "paidWei",
  "state",
  "transactionHash",
  "reason",
] as const;

/**
 * A consumer's authorisation of an API or session key (the KeyGrant of GET /v1/eip712), signed
 * once with its wallet: `POST /v1/keys` registers it at a worker.
 */
export const keyGrantSchema = z.strictObject({
  consumer: addressSchema,
  /** The key's address: the address of the bearer token's private key, or of the session key. */
  key: addressSchema,
  /** The one worker the key may be used at; the zero address: any authorised worker. */
  worker: addressSchema,
  /** Queries over the key's whole life, at every worker together (uint64). */
  maxQueries: uint64Schema,
  /** The most charged per query, in wei (uint256). */
  maxFeePerQuery: uint256Schema,
  /** Unix seconds after which the key is refused (uint64). */
  expiresAt: uint64Schema,
});
export type KeyGrantWire = z.input<typeof keyGrantSchema>;

/** A KeyGrant as signed (GET /v1/eip712's message, integers as bigints) in its wire form. */
export function keyGrantToWire(grant: KeyGrantMessage): z.output<typeof keyGrantSchema> {
  return {
    consumer: grant.consumer,
    key: grant.key,
    worker: grant.worker,
    maxQueries: grant.maxQueries.toString(),
    maxFeePerQuery: grant.maxFeePerQuery.toString(),
    expiresAt: grant.expiresAt.toString(),
  };
}

/** `POST /v1/keys`: a grant and the consumer's signature over it (ECDSA, or its account's ERC-1271). */
export const registerKeyRequestSchema = z.strictObject({ grant: keyGrantSchema, signature: signatureSchema });
export type RegisterKeyRequest = z.input<typeof registerKeyRequestSchema>;

/** A registered key at this worker (`POST /v1/keys`' answer, `GET /v1/keys`' entries). */
export const keyStatusSchema = keyGrantSchema.extend({
  /** When this worker registered the grant (ISO 8601). */
  registeredAt: z.string(),
  /** Queries this worker served with the key, settled or not. */
  usedHere: uint64Schema,
  /** Queries settled on chain for the key, at every worker (`UsageSettlement.keyState`). */
  used: uint64Schema,
  /** Unix seconds at which the consumer revoked the key on chain; null: not revoked. */
  revokedAt: z.int().nullable(),
  /** Queries the key may still be used for: its cap less what is settled and what this worker has not settled yet. */
  remaining: uint64Schema,
  /** `active`, or why the key is refused: `expired`, `revoked`, `exhausted` (its cap is reached). */
  state: z.enum(["active", "expired", "revoked", "exhausted"]),
});
export type KeyStatus = z.infer<typeof keyStatusSchema>;

/** `GET /v1/keys?consumer=`: the consumer's keys this worker knows, oldest first. */
export const keyListSchema = z.object({
  consumer: addressSchema,
  worker: addressSchema,
  keys: z.array(keyStatusSchema),
});
export type KeyList = z.infer<typeof keyListSchema>;

/** An API key's bearer token is `dao_sk_` and the 64 hex digits of the key's secp256k1 private key. */
export const BEARER_TOKEN_PREFIX = "dao_sk_";
/** A bearer token; its group is the private key's hex. */
export const BEARER_TOKEN_PATTERN = /^dao_sk_([0-9a-fA-F]{64})$/;
export const bearerTokenSchema = z.string().regex(BEARER_TOKEN_PATTERN, { error: "must be dao_sk_ and 64 hex digits" });

/** The bearer token of a key's private key (`generatePrivateKey()` of viem/accounts makes one). */
export function bearerTokenOf(privateKey: Hex): string {
  return `${BEARER_TOKEN_PREFIX}${privateKey.slice(2).toLowerCase()}`;
}

/** The private key a bearer token carries (`privateKeyToAddress` gives the key's address, the grant's `key`). */
export function privateKeyOfBearerToken(token: string): Hex {
  return `0x${bearerTokenSchema.parse(token).slice(BEARER_TOKEN_PREFIX.length).toLowerCase()}`;
}
