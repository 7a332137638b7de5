import { createHash } from "node:crypto";
import type { CID } from "multiformats/cid";
import { WorkerError } from "../internal/WorkerError.ts";

const SHA2_256 = 0x12;
const IDENTITY = 0x00;

/**
 * Checks that a block's bytes are the ones its CID names. Only SHA-256 (which every CID this
 * worker writes uses) and the identity hash are accepted: a CID with another hash function is
 * refused rather than trusted.
 */
export function verifyBlock(cid: CID, bytes: Uint8Array): void {
  const { code, digest } = cid.multihash;
  let actual: Uint8Array;
  if (code === SHA2_256) actual = createHash("sha256").update(bytes).digest();
  else if (code === IDENTITY) actual = bytes;
  else {
    throw new WorkerError(
      "CONTENT_INTEGRITY_FAILED",
      `Cannot verify ${cid}: hash function 0x${code.toString(16)} is not supported.`,
      {
        hints: ["Only CIDs with SHA-256 (as this worker writes them) can be read."],
      },
    );
  }
  if (!Buffer.from(actual).equals(Buffer.from(digest))) {
    throw new WorkerError("CONTENT_INTEGRITY_FAILED", `The store returned a block that does not match ${cid}.`, {
      hints: [
        "The IPFS store is corrupt or faulty: check the node or repository, and fetch the content from a healthy one.",
      ],
    });
  }
}
