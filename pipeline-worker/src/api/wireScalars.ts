import { maxUint256, maxUint64, type Address, type Hex } from "viem";
import { z } from "zod";

/**
 * The scalars every wire shape of the worker's API is built from (consumerWire.ts,
 * submissionWire.ts, policyWire.ts), declared once so that a field has the same limit wherever it
 * travels. Numbers that may exceed 2^53 (uint64, uint256) travel as decimal strings without
 * leading zeros. Their pattern bounds the digits (20 for a uint64, 78 for a uint256), which is all
 * a JSON Schema can say, so Fastify refuses a longer one; the refinement bounds the value, which
 * the routes check by parsing the request with these schemas (parseWire.ts).
 */

/** A decimal string of at most `max`: `digits` digits (those of `max`), no leading zeros. */
const decimalAtMost = (max: bigint, error: string) =>
  z
    .string()
    .regex(new RegExp(`^(0|[1-9][0-9]{0,${max.toString().length - 1}})$`), { error })
    .refine((value) => !/^[0-9]+$/.test(value) || BigInt(value) <= max, { error: `${error} (at most ${max})` });

/** A uint256 as a decimal string. */
export const uint256Schema = decimalAtMost(maxUint256, "must be a decimal uint256");
/** A uint64 as a decimal string. */
export const uint64Schema = decimalAtMost(maxUint64, "must be a decimal uint64");
export const addressSchema = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, { error: "must be an address (0x and 40 hex digits)" })
  .transform((value) => value as Address);

/** A 0x-prefixed hex string matching `pattern`, typed as viem's Hex. */
export const hexSchema = (pattern: RegExp, what: string) =>
  z
    .string()
    .regex(pattern, { error: `must be ${what}` })
    .transform((value) => value as Hex);
export const bytes32Schema = hexSchema(/^0x[0-9a-fA-F]{64}$/, "0x and 64 hex digits");
/** A 65-byte ECDSA signature, or an ERC-1271 signature of any length (a Safe's owners' signatures). */
export const signatureSchema = hexSchema(/^0x(?:[0-9a-fA-F]{2}){1,4096}$/, "0x and the signature's hex digits");
