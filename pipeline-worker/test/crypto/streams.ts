// Helpers to feed and drain byte streams in tests.
import { randomBytes } from "node:crypto";

export async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of source) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Splits bytes into chunks of irregular sizes, as a socket would deliver them. */
export function* irregularChunks(bytes: Uint8Array, seed = 7): Generator<Uint8Array> {
  let offset = 0;
  let size = seed;
  while (offset < bytes.byteLength) {
    size = (size * 31 + 17) % 97;
    const end = Math.min(bytes.byteLength, offset + size + 1);
    yield bytes.subarray(offset, end);
    offset = end;
  }
}

export function randomPlaintext(bytes: number): Buffer {
  return randomBytes(bytes);
}
