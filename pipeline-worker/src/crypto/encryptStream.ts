import { createCipheriv, createDecipheriv } from "node:crypto";
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
 * one segment whatever the size of the input, and output flows as soon as each segment is known
 * not to be the last, so a 1 GiB submission streams from the socket to IPFS without being held.
 *
 * Each input chunk goes through the cipher as it arrives, and the ciphertext comes out in pieces
 * of the input's sizes: the plaintext is never gathered into segments first. That saves two
 * copies of every byte (gathering, and joining a segment to its tag), and the garbage collections
 * that allocating them would cost, which made up a third of the ingest path's time.
 */
export async function* encryptStream(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  parameters: EncryptStreamParameters,
): AsyncGenerator<Uint8Array> {
  const header = createHeader(parameters.segmentBytes ?? DEFAULT_SEGMENT_BYTES);
  const key = deriveSegmentKey(parameters.key, header);
  const aad = segmentAad(header, parameters.associatedData);
  const cipherFor = (index: number, last: boolean) =>
    createCipheriv("aes-256-gcm", key, segmentNonce(header, index, last)).setAAD(aad);

  // The segment being filled, encrypted as if it were not the last: a segment is only known not
  // to be the last once a byte after it has arrived, so its ciphertext is held back until then.
  let index = 0;
  let cipher = cipherFor(index, false);
  let held: Buffer[] = [];
  let filled = 0;

  yield header.bytes;
  for await (const chunk of source) {
    for (let offset = 0; offset < chunk.byteLength;) {
      if (filled === header.segmentBytes) {
        cipher.final();
        yield* held;
        yield cipher.getAuthTag();
        cipher = cipherFor(++index, false);
        held = [];
        filled = 0;
      }
      const part = chunk.subarray(offset, offset + header.segmentBytes - filled);
      held.push(cipher.update(part));
      filled += part.byteLength;
      offset += part.byteLength;
    }
  }

  // The stream ended, so the held segment is the last, whose nonce differs: it is encrypted again.
  // Its plaintext comes back from the held ciphertext (GCM is a counter mode: decrypting needs no
  // tag), because the source's buffers are not ours to keep and may have been reused by now.
  const opener = createDecipheriv("aes-256-gcm", key, segmentNonce(header, index, false)).setAAD(aad);
  const last = cipherFor(index, true);
  for (const part of held) yield last.update(opener.update(part));
  last.final();
  yield last.getAuthTag();
}
