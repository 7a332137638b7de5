// Measures the streaming AEAD against raw AES-256-GCM over the same bytes, and its peak memory.
// Run: npm run bench:crypto -w pipeline-worker -- [MiB, default 1024]
import { createCipheriv, createHash, randomBytes } from "node:crypto";
import { decryptStream } from "../src/crypto/decryptStream.ts";
import { encryptStream } from "../src/crypto/encryptStream.ts";
import { generateDataKey } from "../src/crypto/generateDataKey.ts";

const MiB = 1024 * 1024;
const totalMiB = Number(process.argv[2] ?? 1024);
const block = randomBytes(MiB);
const associatedData = Buffer.from("bench");

async function* source(): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < totalMiB; i++) yield block;
}

async function drain(stream: AsyncIterable<Uint8Array>): Promise<number> {
  let bytes = 0;
  for await (const chunk of stream) bytes += chunk.byteLength;
  return bytes;
}

function report(name: string, seconds: number, rssPeak?: number): void {
  const rate = (totalMiB * MiB) / seconds / 1e9;
  const memory = rssPeak === undefined ? "" : `, peak RSS ${(rssPeak / MiB).toFixed(0)} MiB`;
  console.log(`${name.padEnd(44)} ${rate.toFixed(2)} GB/s (${seconds.toFixed(2)} s${memory})`);
}

// The median of three runs: the first run of each pays for JIT warm-up, and this machine is noisy.
async function time(run: () => Promise<unknown>): Promise<number> {
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const start = process.hrtime.bigint();
    await run();
    runs.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  return runs.sort((a, b) => a - b)[1]!;
}

console.log(`${totalMiB} MiB, node ${process.version}`);
report(
  "raw AES-256-GCM, one cipher, 1 MiB updates",
  await time(async () => {
    const cipher = createCipheriv("aes-256-gcm", randomBytes(32), randomBytes(12));
    for await (const chunk of source()) cipher.update(chunk);
    cipher.final();
  }),
);
report(
  "SHA-256, 1 MiB updates",
  await time(async () => {
    const hash = createHash("sha256");
    for await (const chunk of source()) hash.update(chunk);
    hash.digest();
  }),
);
for (const segmentBytes of [64 * 1024, MiB]) {
  const key = generateDataKey();
  const label = `${segmentBytes / 1024} KiB segments`;
  report(
    `encryptStream, ${label}`,
    await time(() => drain(encryptStream(source(), { key, associatedData, segmentBytes }))),
  );
  let rssPeak = 0;
  const seconds = await time(async () => {
    let n = 0;
    const plaintext = decryptStream(encryptStream(source(), { key, associatedData, segmentBytes }), {
      key,
      associatedData,
    });
    for await (const chunk of plaintext) {
      n += chunk.byteLength;
      if (n % (64 * MiB) === 0) rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    }
  });
  report(`encrypt then decrypt, ${label}`, seconds, rssPeak);
}
