import { webcrypto } from "node:crypto";
import { ByteQueue } from "./ByteQueue.ts";
import { createHeader, DEFAULT_SEGMENT_BYTES, deriveSegmentKey, segmentAad, segmentNonce } from "./streamFormat.ts";

export type EncryptStreamParameters = {
  /** A fresh 32-byte data key (generateDataKey). Never reuse one across submissions. */
  key: Uint8Array;
  /**
   * The metadata the ciphertext is bound to; decryption fails unless it gets the same bytes. Use
   * a canonical encoding of what identifies the submission, e.g. its EIP-712 digest, so that a
   * ciphertext cannot be passed off as another submission's.
   */
  associatedData: Uint8Array;
  /** Plaintext bytes per segment; defaults to 1 MiB. */
  segmentBytes?: number;
};

/** Segments being encrypted at once: enough to keep the thread pool busy, 4 MiB at the default size. */
export const SEGMENTS_IN_FLIGHT = 4;

/**
 * Encrypts a byte stream segment by segment (format in streamFormat.ts). Memory stays bounded by
 * a few segments plus one input chunk whatever the size of the input, and output flows as soon as
 * each segment is full, so a 1 GiB submission streams from the socket to IPFS without being held.
 */
export async function* encryptStream(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  parameters: EncryptStreamParameters,
): AsyncGenerator<Uint8Array> {
  const header = createHeader(parameters.segmentBytes ?? DEFAULT_SEGMENT_BYTES);
  const segmentKey = deriveSegmentKey(parameters.key, header);
  const key = await webcrypto.subtle.importKey("raw", segmentKey, "AES-GCM", false, ["encrypt"]);
  segmentKey.fill(0);
  const aad = segmentAad(header, parameters.associatedData);
  const queue = new ByteQueue();
  const sealing: Promise<Uint8Array>[] = [];
  let index = 0;

  // WebCrypto's AES-GCM runs in libuv's thread pool and returns ciphertext || tag, the segment's
  // exact bytes. Up to SEGMENTS_IN_FLIGHT segments are sealed there while this thread goes on
  // reading (and hashing) the next ones.
  const seal = (plaintext: Uint8Array, last: boolean) => {
    const iv = segmentNonce(header, index++, last);
    const sealed = webcrypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: aad, tagLength: 128 },
      key,
      plaintext,
    );
    sealing.push(sealed.then((segment) => new Uint8Array(segment)));
  };

  try {
    yield header.bytes;
    for await (const chunk of source) {
      queue.push(chunk);
      // Strictly more than a segment: a segment is only known not to be the last once a byte
      // after it has arrived.
      while (queue.length > header.segmentBytes) {
        seal(queue.take(header.segmentBytes), false);
        if (sealing.length >= SEGMENTS_IN_FLIGHT) yield await sealing.shift()!;
      }
    }
    seal(queue.take(queue.length), true);
    while (sealing.length > 0) yield await sealing.shift()!;
  } finally {
    // A consumer that stops early leaves segments being sealed: nothing may reject unheard.
    for (const pending of sealing) pending.catch(() => {});
  }
}
