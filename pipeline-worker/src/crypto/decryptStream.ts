import { createDecipheriv } from "node:crypto";
import { WorkerError } from "../internal/WorkerError.ts";
import { ByteQueue } from "./ByteQueue.ts";
import {
  deriveSegmentKey,
  HEADER_BYTES,
  parseHeader,
  segmentAad,
  segmentNonce,
  TAG_BYTES,
  type StreamHeader,
} from "./streamFormat.ts";

export type DecryptStreamParameters = {
  key: Uint8Array;
  /** The same bytes the stream was encrypted with. */
  associatedData: Uint8Array;
};

const TAMPERED_HINTS = [
  "Check that the key was combined from the right shares and that the metadata is this submission's.",
  "Otherwise the ciphertext was changed in storage or in transit: fetch it again from a healthy node.",
];

/**
 * Decrypts a stream written by encryptStream. Each segment is authenticated before any of its
 * bytes are released, so a consumer never sees forged plaintext. A cut-short stream is only
 * detectable at its end, so a consumer must treat what it read as valid only once iteration
 * finishes without throwing (write to a temporary file and rename, or discard on error).
 */
export async function* decryptStream(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  parameters: DecryptStreamParameters,
): AsyncGenerator<Uint8Array> {
  const queue = new ByteQueue();
  let state: { header: StreamHeader; key: Buffer; aad: Buffer; segmentWithTag: number } | undefined;
  let index = 0;

  for await (const chunk of source) {
    queue.push(chunk);
    if (state === undefined && queue.length >= HEADER_BYTES) {
      const header = parseHeader(queue.take(HEADER_BYTES));
      state = {
        header,
        key: deriveSegmentKey(parameters.key, header),
        aad: segmentAad(header, parameters.associatedData),
        segmentWithTag: header.segmentBytes + TAG_BYTES,
      };
    }
    if (state === undefined) continue;
    while (queue.length > state.segmentWithTag) {
      yield open(state, queue.take(state.segmentWithTag), index++, false);
    }
  }

  if (state === undefined || queue.length < TAG_BYTES) {
    throw new WorkerError("CIPHERTEXT_INVALID", "The encrypted stream is cut short: it ends before its last segment.", {
      hints: ["Fetch the ciphertext again; the copy read was incomplete."],
    });
  }
  const plaintext = open(state, queue.take(queue.length), index, true);
  if (plaintext.byteLength > 0) yield plaintext;
}

function open(
  state: { header: StreamHeader; key: Buffer; aad: Buffer },
  segment: Buffer,
  index: number,
  last: boolean,
): Buffer {
  const plaintext = tryOpen(state, segment, index, last);
  if (plaintext !== undefined) return plaintext;
  // A stream cut exactly at a segment boundary ends in a whole segment sealed as "not last".
  // Telling that apart from tampering costs one more tag check, on the failure path only, and
  // saves an operator from hunting for corruption in a copy that was merely incomplete.
  if (last && tryOpen(state, segment, index, false) !== undefined) {
    throw new WorkerError("CIPHERTEXT_INVALID", `The encrypted stream is cut short after segment ${index}.`, {
      hints: ["Fetch the ciphertext again; the copy read was incomplete."],
    });
  }
  throw new WorkerError("CIPHERTEXT_INVALID", `Segment ${index} of the encrypted stream failed authentication.`, {
    hints: TAMPERED_HINTS,
  });
}

function tryOpen(
  state: { header: StreamHeader; key: Buffer; aad: Buffer },
  segment: Buffer,
  index: number,
  last: boolean,
): Buffer | undefined {
  const decipher = createDecipheriv("aes-256-gcm", state.key, segmentNonce(state.header, index, last), {
    authTagLength: TAG_BYTES,
  });
  decipher.setAAD(state.aad);
  decipher.setAuthTag(segment.subarray(segment.byteLength - TAG_BYTES));
  const body = decipher.update(segment.subarray(0, segment.byteLength - TAG_BYTES));
  try {
    decipher.final();
  } catch {
    return undefined;
  }
  return body;
}
