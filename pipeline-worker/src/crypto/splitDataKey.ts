import { split } from "shamir-secret-sharing";
import { WorkerError } from "../internal/WorkerError.ts";
import { DATA_KEY_BYTES } from "./generateDataKey.ts";

export type SplitDataKeyParameters = {
  /** How many shares reconstruct the key: the committee's threshold. */
  threshold: number;
  /** How many shares to make: one per committee member, in the committee's order. */
  shares: number;
};

/**
 * Splits a data key k-of-n with Shamir's secret sharing over GF(2^8) (Privy's audited
 * `shamir-secret-sharing`). Each share is 33 bytes: 32 bytes of y values and, last, the share's x
 * coordinate. Fewer than `threshold` shares reveal nothing about the key.
 */
export async function splitDataKey(key: Uint8Array, parameters: SplitDataKeyParameters): Promise<Uint8Array[]> {
  const { threshold, shares } = parameters;
  if (key.byteLength !== DATA_KEY_BYTES) {
    throw new WorkerError("VALIDATION_FAILED", `A data key has ${DATA_KEY_BYTES} bytes, not ${key.byteLength}.`);
  }
  if (
    !Number.isInteger(threshold) ||
    !Number.isInteger(shares) ||
    threshold < 1 ||
    shares < threshold ||
    shares > 255
  ) {
    throw new WorkerError(
      "VALIDATION_FAILED",
      `Cannot split a key ${threshold}-of-${shares}: need 1 <= threshold <= shares <= 255.`,
      { hints: ["Check the keyholder committee's threshold and member count in the PolicyRegistry."] },
    );
  }
  // The library needs at least 2-of-2. A threshold of 1 is Shamir with a constant polynomial:
  // every share's y values are the key itself, so any one share opens it.
  if (threshold === 1) {
    return Array.from({ length: shares }, (_, i) => Uint8Array.of(...key, i + 1));
  }
  // A copy into a plain Uint8Array: the library rejects Buffer.
  return split(Uint8Array.from(key), shares, threshold);
}
