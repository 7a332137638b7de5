import type { Address, Hex } from "viem";
import { z } from "zod";

/**
 * The scalars every wire shape of the worker's API is built from (consumerWire.ts,
 * submissionWire.ts, policyWire.ts), declared once so that a field has the same limit wherever it
 * travels. Numbers that may exceed 2^53 (uint64, uint256) travel as decimal strings without
 * leading zeros; the pattern bounds their digits (20 for a uint64, 78 for a uint256), and the
 * service that turns one into a bigint refuses a value above its type's range.
 */

/** A uint256 as a decimal string (at most 78 digits). */
export const uint256Schema = z.string().regex(/^(0|[1-9][0-9]{0,77})$/, { error: "must be a decimal number" });
/** A uint64 as a decimal string (at most 20 digits). */
export const uint64Schema = z.string().regex(/^(0|[1-9][0-9]{0,19})$/, { error: "must be a decimal uint64" });
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
