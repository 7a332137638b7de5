import { createCipheriv } from "node:crypto";
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

/**
 * Encrypts a byte stream segment by segment (format in streamFormat.ts). Memory stays bounded by
 * one segment plus one input chunk whatever the size of the input, and output flows as soon as
 * each segment is full, so a 1 GiB submission streams from the socket to IPFS without being held.
 */
export async function* encryptStream(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  parameters: EncryptStreamParameters,
): AsyncGenerator<Uint8Array> {
  const header = createHeader(parameters.segmentBytes ?? DEFAULT_SEGMENT_BYTES);
  const key = deriveSegmentKey(parameters.key, header);
  const aad = segmentAad(header, parameters.associatedData);
  const queue = new ByteQueue();
  let index = 0;

  const seal = (plaintext: Buffer, last: boolean): Buffer => {
    const cipher = createCipheriv("aes-256-gcm", key, segmentNonce(header, index++, last));
    cipher.setAAD(aad);
    const body = cipher.update(plaintext);
    cipher.final();
    return Buffer.concat([body, cipher.getAuthTag()]);
  };

  yield header.bytes;
  for await (const chunk of source) {
    queue.push(chunk);
    // Strictly more than a segment: a segment is only known not to be the last once a byte
    // after it has arrived.
    while (queue.length > header.segmentBytes) yield seal(queue.take(header.segmentBytes), false);
  }
  yield seal(queue.take(queue.length), true);
}
