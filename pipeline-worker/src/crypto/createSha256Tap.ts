import { createHash } from "node:crypto";
import { WorkerError } from "../internal/WorkerError.ts";

export type Sha256Tap = {
  /** Passes the stream through unchanged, hashing it on the way. */
  tap(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<Uint8Array>;
  /** The SHA-256 of everything tapped, available once the tapped stream has ended. */
  digest(): Uint8Array;
  /** Bytes seen so far. */
  readonly bytes: number;
};

/**
 * Hashes a stream while it flows to where it is going, so that the plaintext's hash (which
 * attestations are about) comes from the same single pass that encrypts it: a 1 GiB submission is
 * read once, not once to hash and again to encrypt.
 */
export function createSha256Tap(): Sha256Tap {
  const hash = createHash("sha256");
  let bytes = 0;
  let result: Uint8Array | undefined;
  return {
    async *tap(source) {
      for await (const chunk of source) {
        hash.update(chunk);
        bytes += chunk.byteLength;
        yield chunk;
      }
      result = new Uint8Array(hash.digest());
    },
    digest() {
      if (result === undefined) throw digestBeforeTheEnd();
      return result;
    },
    get bytes() {
      return bytes;
    },
  };
}

/** What a tap's `digest()` throws when called before its stream has ended. */
export function digestBeforeTheEnd(): WorkerError {
  return new WorkerError("INTERNAL", "The SHA-256 of a stream was read before the stream ended.", {
    hints: ["Consume the tapped stream to its end before calling digest()."],
  });
}
