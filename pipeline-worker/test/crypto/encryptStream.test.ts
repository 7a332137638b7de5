import { createDecipheriv, createHash, hkdfSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { decryptStream } from "../../src/crypto/decryptStream.ts";
import { encryptStream } from "../../src/crypto/encryptStream.ts";
import { generateDataKey } from "../../src/crypto/generateDataKey.ts";
import { HEADER_BYTES, TAG_BYTES } from "../../src/crypto/streamFormat.ts";
import { WorkerError } from "../../src/internal/WorkerError.ts";
import { collect, irregularChunks, randomPlaintext } from "./streams.ts";

const aad = Buffer.from('{"submission":"0x01","contributor":"0xabc"}');
const SEGMENT = 64;

async function encrypt(plaintext: Uint8Array, key: Uint8Array, segmentBytes = SEGMENT) {
  return collect(encryptStream(irregularChunks(plaintext), { key, associatedData: aad, segmentBytes }));
}

async function decrypt(ciphertext: Uint8Array, key: Uint8Array, associatedData: Uint8Array = aad) {
  return collect(decryptStream(irregularChunks(ciphertext, 3), { key, associatedData }));
}

async function expectCiphertextInvalid(promise: Promise<unknown>, message: RegExp) {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(WorkerError);
  expect((error as WorkerError).code).toBe("CIPHERTEXT_INVALID");
  expect((error as WorkerError).shortMessage).toMatch(message);
}

describe("encryptStream / decryptStream", () => {
  it.each([0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT, 3 * SEGMENT + 5, 1000])(
    "round-trips %i bytes, however the stream is chunked",
    async (size) => {
      const key = generateDataKey();
      const plaintext = randomPlaintext(size);
      const ciphertext = await encrypt(plaintext, key);
      const segments = Math.max(1, Math.ceil(size / SEGMENT));
      expect(ciphertext.byteLength).toBe(HEADER_BYTES + size + segments * TAG_BYTES);
      expect(await decrypt(ciphertext, key)).toEqual(plaintext);
    },
  );

  it("round-trips with the default 1 MiB segments", async () => {
    const key = generateDataKey();
    const plaintext = randomPlaintext(3 * 1024 * 1024 + 11);
    const ciphertext = await collect(encryptStream([plaintext], { key, associatedData: aad }));
    const decrypted = await collect(decryptStream([ciphertext], { key, associatedData: aad }));
    expect(decrypted.equals(plaintext)).toBe(true);
  });

  it("writes the format docs/crypto-formats.md specifies, segment by segment", async () => {
    // An independent reader built from the document alone, with Node's plain AES-GCM.
    const key = generateDataKey();
    const plaintext = randomPlaintext(2 * SEGMENT + 9);
    const ciphertext = await encrypt(plaintext, key);
    const header = ciphertext.subarray(0, HEADER_BYTES);
    expect(header[0]).toBe(0x01);
    expect(header.readUInt32BE(1)).toBe(SEGMENT);
    const segmentKey = Buffer.from(hkdfSync("sha256", key, header.subarray(5, 37), "dao-ai/stream/v1/key", 32));
    const segmentAad = createHash("sha256").update("dao-ai/stream/v1/aad").update(header).update(aad).digest();
    const opened: Buffer[] = [];
    let offset = HEADER_BYTES;
    for (let i = 0; offset < ciphertext.byteLength; i++) {
      const end = Math.min(ciphertext.byteLength, offset + SEGMENT + TAG_BYTES);
      const last = end === ciphertext.byteLength;
      const nonce = Buffer.concat([header.subarray(37, 44), Buffer.from([0, 0, 0, i, last ? 1 : 0])]);
      const decipher = createDecipheriv("aes-256-gcm", segmentKey, nonce).setAAD(segmentAad);
      decipher.setAuthTag(ciphertext.subarray(end - TAG_BYTES, end));
      opened.push(decipher.update(ciphertext.subarray(offset, end - TAG_BYTES)), decipher.final());
      offset = end;
    }
    expect(Buffer.concat(opened).equals(plaintext)).toBe(true);
  });

  it("never encrypts the same plaintext to the same ciphertext", async () => {
    const key = generateDataKey();
    const plaintext = randomPlaintext(100);
    expect(await encrypt(plaintext, key)).not.toEqual(await encrypt(plaintext, key));
  });

  it("fails when any single byte of the header, a segment or a tag is changed", async () => {
    const key = generateDataKey();
    const plaintext = randomPlaintext(2 * SEGMENT + 10);
    const ciphertext = await encrypt(plaintext, key);
    for (let position = 0; position < ciphertext.byteLength; position++) {
      const tampered = Buffer.from(ciphertext);
      tampered[position]! ^= 0x01;
      await expectCiphertextInvalid(decrypt(tampered, key), /./);
    }
  });

  it("fails with the wrong metadata or the wrong key", async () => {
    const key = generateDataKey();
    const ciphertext = await encrypt(randomPlaintext(10), key);
    await expectCiphertextInvalid(
      decrypt(ciphertext, key, Buffer.from('{"submission":"0x02","contributor":"0xabc"}')),
      /^Segment 0 of the encrypted stream failed authentication\.$/,
    );
    await expectCiphertextInvalid(decrypt(ciphertext, generateDataKey()), /^Segment 0 .* failed authentication/);
  });

  it("says a stream cut at a segment boundary is cut short", async () => {
    const key = generateDataKey();
    const ciphertext = await encrypt(randomPlaintext(3 * SEGMENT), key);
    const twoSegments = ciphertext.subarray(0, HEADER_BYTES + 2 * (SEGMENT + TAG_BYTES));
    await expectCiphertextInvalid(decrypt(twoSegments, key), /^The encrypted stream is cut short after segment 1\.$/);
  });

  it("fails when cut inside a segment, inside the header, or empty", async () => {
    const key = generateDataKey();
    const ciphertext = await encrypt(randomPlaintext(3 * SEGMENT), key);
    await expectCiphertextInvalid(
      decrypt(ciphertext.subarray(0, ciphertext.byteLength - 1), key),
      /failed authentication/,
    );
    await expectCiphertextInvalid(decrypt(ciphertext.subarray(0, HEADER_BYTES + 5), key), /cut short/);
    await expectCiphertextInvalid(decrypt(ciphertext.subarray(0, 10), key), /cut short/);
    await expectCiphertextInvalid(decrypt(Buffer.alloc(0), key), /cut short/);
  });

  it("fails when segments are reordered, repeated, or bytes are appended", async () => {
    const key = generateDataKey();
    const ciphertext = await encrypt(randomPlaintext(3 * SEGMENT), key);
    const header = ciphertext.subarray(0, HEADER_BYTES);
    const segment = (i: number) =>
      ciphertext.subarray(HEADER_BYTES + i * (SEGMENT + TAG_BYTES), HEADER_BYTES + (i + 1) * (SEGMENT + TAG_BYTES));
    const swapped = Buffer.concat([header, segment(1), segment(0), segment(2)]);
    await expectCiphertextInvalid(decrypt(swapped, key), /^Segment 0 /);
    const repeated = Buffer.concat([header, segment(0), segment(0), segment(1), segment(2)]);
    await expectCiphertextInvalid(decrypt(repeated, key), /^Segment 1 /);
    await expectCiphertextInvalid(decrypt(Buffer.concat([ciphertext, Buffer.of(0)]), key), /failed authentication/);
  });

  it("releases no byte of a segment that fails authentication", async () => {
    const key = generateDataKey();
    const plaintext = randomPlaintext(4 * SEGMENT);
    const ciphertext = await encrypt(plaintext, key);
    ciphertext[HEADER_BYTES + 2 * (SEGMENT + TAG_BYTES) + 5]! ^= 0xff;
    const released: Uint8Array[] = [];
    await expectCiphertextInvalid(
      (async () => {
        for await (const chunk of decryptStream([ciphertext], { key, associatedData: aad })) released.push(chunk);
      })(),
      /^Segment 2 /,
    );
    expect(Buffer.concat(released)).toEqual(plaintext.subarray(0, 2 * SEGMENT));
  });

  it("rejects a header that claims an absurd segment size before buffering it", async () => {
    const key = generateDataKey();
    const ciphertext = await encrypt(randomPlaintext(10), key);
    ciphertext.writeUInt32BE(0xffffffff, 1);
    await expectCiphertextInvalid(decrypt(ciphertext, key), /^Segment size 4294967295 is outside/);
  });

  it("streams 256 MiB through encryption and decryption in bounded memory", { timeout: 120_000 }, async () => {
    const MiB = 1024 * 1024;
    const total = 256;
    const block = randomPlaintext(MiB);
    let produced = 0;
    let producedWhenFirstPlaintextCameOut = -1;
    async function* source() {
      for (let i = 0; i < total; i++) {
        produced++;
        yield block;
      }
    }
    const key = generateDataKey();
    const inputHash = createHash("sha256");
    for (let i = 0; i < total; i++) inputHash.update(block);
    const outputHash = createHash("sha256");
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    let outputBytes = 0;
    const ciphertext = encryptStream(source(), { key, associatedData: aad });
    for await (const chunk of decryptStream(ciphertext, { key, associatedData: aad })) {
      if (producedWhenFirstPlaintextCameOut < 0) producedWhenFirstPlaintextCameOut = produced;
      outputHash.update(chunk);
      outputBytes += chunk.byteLength;
      if (outputBytes % (16 * MiB) === 0) rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    }
    expect(outputBytes).toBe(total * MiB);
    expect(outputHash.digest("hex")).toBe(inputHash.digest("hex"));
    // Plaintext comes out while the input is still being read: nothing waits for the whole stream.
    expect(producedWhenFirstPlaintextCameOut).toBeLessThanOrEqual(4);
    // Holding the stream whole would take at least 256 MiB more.
    expect(rssPeak - rssBefore).toBeLessThan(128 * MiB);
  });
});
