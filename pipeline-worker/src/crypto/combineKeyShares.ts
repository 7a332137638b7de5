import { combine } from "shamir-secret-sharing";
import { WorkerError } from "../internal/WorkerError.ts";
import { DATA_KEY_BYTES } from "./generateDataKey.ts";

/**
 * Reconstructs a data key from shares made by splitDataKey. Shamir cannot tell a right key from a
 * wrong one: too few shares, or shares of different keys, give a wrong key without an error. The
 * wrong key then fails decryption (CIPHERTEXT_INVALID), which is where the mistake shows.
 */
export async function combineKeyShares(shares: readonly Uint8Array[]): Promise<Uint8Array> {
  if (shares.length === 0) {
    throw new WorkerError("VALIDATION_FAILED", "No key shares to combine.");
  }
  for (const share of shares) {
    if (share.byteLength !== DATA_KEY_BYTES + 1) {
      throw new WorkerError(
        "VALIDATION_FAILED",
        `A key share has ${DATA_KEY_BYTES + 1} bytes, not ${share.byteLength}.`,
      );
    }
  }
  const xs = shares.map((share) => share[DATA_KEY_BYTES]!);
  if (new Set(xs).size !== xs.length) {
    throw new WorkerError("VALIDATION_FAILED", "The same key share was given twice.", {
      hints: ["Combine shares from different keyholders."],
    });
  }
  // One share is enough only for a 1-of-n split, whose shares carry the key itself.
  if (shares.length === 1) return shares[0]!.slice(0, DATA_KEY_BYTES);
  return combine(shares.map((share) => Uint8Array.from(share)));
}
