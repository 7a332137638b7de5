import { createHash, hkdfSync, randomBytes } from "node:crypto";
import { WorkerError } from "../internal/WorkerError.ts";
import { DATA_KEY_BYTES } from "./generateDataKey.ts";

/**
 * The segmented streaming AEAD format of encrypted submissions, after Tink's AES-GCM-HKDF
 * streaming and age's STREAM (the construction of Hoang, Reyhanitabar, Rogaway and Vizár, "Online
 * authenticated-encryption and its nonce-reuse misuse-resistance"). docs/crypto-formats.md
 * specifies it for implementers in other languages.
 *
 *   header  = version (1 byte, 0x01) || segment size (uint32 BE, plaintext bytes per segment)
 *             || salt (32 random bytes) || nonce prefix (7 random bytes)
 *   key     = HKDF-SHA256(ikm = data key, salt = salt, info = "dao-ai/stream/v1/key")
 *   aad     = SHA-256("dao-ai/stream/v1/aad" || header || associated data)
 *   nonce_i = nonce prefix || i (uint32 BE) || last (1 byte: 0x01 for the final segment, else 0x00)
 *   body    = AES-256-GCM(key, nonce_i, segment_i, aad) for each segment, each with its 16-byte tag
 *
 * Every segment but the last holds exactly `segment size` plaintext bytes; the last holds 0 to
 * `segment size`. Because the counter and the last-segment flag are in the nonce, reordering,
 * dropping, duplicating or truncating segments fails authentication; because the header and the
 * associated data are in every segment's AAD, changing either fails the first segment.
 */

export const STREAM_VERSION = 0x01;
export const HEADER_BYTES = 1 + 4 + 32 + 7;
export const TAG_BYTES = 16;
/** 1 MiB: the per-segment cost of a cipher call is lost in the noise, and a reader holds at most 2 MiB. */
export const DEFAULT_SEGMENT_BYTES = 1024 * 1024;
// A reader must buffer a whole segment before it may release it. Bounding the size a header may
// claim keeps a forged header from making a reader allocate gigabytes before its tag fails.
export const MIN_SEGMENT_BYTES = 16;
export const MAX_SEGMENT_BYTES = 16 * 1024 * 1024;
export const MAX_SEGMENTS = 2 ** 32;

const KEY_INFO = Buffer.from("dao-ai/stream/v1/key");
const AAD_LABEL = Buffer.from("dao-ai/stream/v1/aad");

export type StreamHeader = { bytes: Buffer; segmentBytes: number; salt: Buffer; noncePrefix: Buffer };

export function createHeader(segmentBytes: number): StreamHeader {
  assertSegmentBytes(segmentBytes, "VALIDATION_FAILED");
  const bytes = Buffer.alloc(HEADER_BYTES);
  bytes[0] = STREAM_VERSION;
  bytes.writeUInt32BE(segmentBytes, 1);
  randomBytes(32).copy(bytes, 5);
  randomBytes(7).copy(bytes, 37);
  return { bytes, segmentBytes, salt: bytes.subarray(5, 37), noncePrefix: bytes.subarray(37, 44) };
}

export function parseHeader(bytes: Buffer): StreamHeader {
  if (bytes[0] !== STREAM_VERSION) {
    throw new WorkerError("CIPHERTEXT_INVALID", `Unknown encrypted-stream version ${bytes[0]}.`, {
      hints: ["The data is not an encrypted submission, or was written by a newer worker than this one."],
    });
  }
  const segmentBytes = bytes.readUInt32BE(1);
  assertSegmentBytes(segmentBytes, "CIPHERTEXT_INVALID");
  return { bytes, segmentBytes, salt: bytes.subarray(5, 37), noncePrefix: bytes.subarray(37, 44) };
}

export function deriveSegmentKey(dataKey: Uint8Array, header: StreamHeader): Buffer {
  if (dataKey.byteLength !== DATA_KEY_BYTES) {
    throw new WorkerError("VALIDATION_FAILED", `A data key has ${DATA_KEY_BYTES} bytes, not ${dataKey.byteLength}.`);
  }
  return Buffer.from(hkdfSync("sha256", dataKey, header.salt, KEY_INFO, 32));
}

/**
 * The associated data is hashed rather than fed to HKDF's info, as Tink does, because Node caps
 * HKDF info at 1024 bytes and submission metadata may be longer.
 */
export function segmentAad(header: StreamHeader, associatedData: Uint8Array): Buffer {
  return createHash("sha256").update(AAD_LABEL).update(header.bytes).update(associatedData).digest();
}

export function segmentNonce(header: StreamHeader, index: number, last: boolean): Buffer {
  if (index >= MAX_SEGMENTS) {
    throw new WorkerError("PAYLOAD_TOO_LARGE", `An encrypted stream holds at most ${MAX_SEGMENTS} segments.`);
  }
  const nonce = Buffer.alloc(12);
  header.noncePrefix.copy(nonce, 0);
  nonce.writeUInt32BE(index, 7);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

function assertSegmentBytes(segmentBytes: number, code: "VALIDATION_FAILED" | "CIPHERTEXT_INVALID"): void {
  if (!Number.isInteger(segmentBytes) || segmentBytes < MIN_SEGMENT_BYTES || segmentBytes > MAX_SEGMENT_BYTES) {
    throw new WorkerError(
      code,
      `Segment size ${segmentBytes} is outside ${MIN_SEGMENT_BYTES}..${MAX_SEGMENT_BYTES} bytes.`,
      code === "CIPHERTEXT_INVALID"
        ? { hints: ["The header was changed or the data is not an encrypted submission."] }
        : {},
    );
  }
}
