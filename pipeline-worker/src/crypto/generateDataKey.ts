import { randomBytes } from "node:crypto";

/** The length of a data key: AES-256. */
export const DATA_KEY_BYTES = 32;

/**
 * A fresh random key for one submission. Every submission gets its own key, so that releasing the
 * key of one (for an approved training run) reveals nothing about any other.
 */
export function generateDataKey(): Uint8Array {
  // A plain Uint8Array, not a Buffer: shamir-secret-sharing rejects Buffer (it checks the exact
  // constructor), and a Buffer from the pool would share memory with unrelated data.
  return new Uint8Array(randomBytes(DATA_KEY_BYTES));
}
