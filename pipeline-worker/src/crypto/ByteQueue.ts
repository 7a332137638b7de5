/**
 * A queue of byte chunks that hands out fixed-size pieces without copying more than it must.
 * Streams arrive in chunks of any size (64 KiB from a socket, 256 KiB from IPFS) and the stream
 * cipher works on fixed segments: joining chunks with a Buffer.concat on every push would copy
 * each byte once per chunk that follows it.
 */
export class ByteQueue {
  #chunks: Uint8Array[] = [];
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.byteLength;
  }

  /** Removes and returns the first `count` bytes (or fewer, when fewer are queued). */
  take(count: number): Buffer {
    const size = Math.min(count, this.#length);
    const first = this.#chunks[0];
    // The common case, a chunk that already holds the whole piece, is a view, not a copy.
    if (first !== undefined && first.byteLength >= size) {
      const piece = Buffer.from(first.buffer, first.byteOffset, size);
      this.#consumeFirst(size);
      return piece;
    }
    const piece = Buffer.allocUnsafe(size);
    let filled = 0;
    while (filled < size) {
      const chunk = this.#chunks[0]!;
      const part = Math.min(chunk.byteLength, size - filled);
      piece.set(chunk.subarray(0, part), filled);
      filled += part;
      this.#consumeFirst(part);
    }
    return piece;
  }

  #consumeFirst(count: number): void {
    const first = this.#chunks[0]!;
    if (count === first.byteLength) this.#chunks.shift();
    else this.#chunks[0] = first.subarray(count);
    this.#length -= count;
  }
}
