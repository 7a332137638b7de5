// Streams a submission end to end through the embedded store, as ingest and training will:
// plaintext -> SHA-256 tap -> encryptStream -> Helia put, then Helia get (verified) ->
// decryptStream -> SHA-256, and reports throughput and peak memory.
// Run: npm run bench:storage -w pipeline-worker -- [MiB, default 1024]
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createSha256Tap } from "../src/crypto/createSha256Tap.ts";
import { decryptStream } from "../src/crypto/decryptStream.ts";
import { encryptStream } from "../src/crypto/encryptStream.ts";
import { generateDataKey } from "../src/crypto/generateDataKey.ts";
import { createHeliaContentStore } from "../src/storage/createHeliaContentStore.ts";

const MiB = 1024 * 1024;
const totalMiB = Number(process.argv[2] ?? 1024);
const block = randomBytes(MiB);
const associatedData = Buffer.from("bench");
let rssPeak = 0;
const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 20);

async function* source(): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < totalMiB; i++) yield block;
}

const directory = mkdtempSync(path.join(tmpdir(), "bench-storage-"));
const store = await createHeliaContentStore({ directory });
try {
  const key = generateDataKey();
  const plaintextTap = createSha256Tap();
  let start = process.hrtime.bigint();
  const put = await store.put(encryptStream(plaintextTap.tap(source()), { key, associatedData }));
  const putSeconds = Number(process.hrtime.bigint() - start) / 1e9;

  start = process.hrtime.bigint();
  const readTap = createSha256Tap();
  for await (const _ of readTap.tap(decryptStream(store.get(put.cid), { key, associatedData })));
  const getSeconds = Number(process.hrtime.bigint() - start) / 1e9;
  clearInterval(sampler);

  const same = Buffer.from(readTap.digest()).equals(Buffer.from(plaintextTap.digest()));
  const rate = (seconds: number) => `${((totalMiB * MiB) / seconds / 1e9).toFixed(2)} GB/s (${seconds.toFixed(2)} s)`;
  console.log(`${totalMiB} MiB plaintext, ${(put.size / MiB).toFixed(1)} MiB ciphertext, node ${process.version}`);
  console.log(`hash + encrypt + Helia put (pinned): ${rate(putSeconds)}`);
  console.log(`Helia get (verified) + decrypt + hash: ${rate(getSeconds)}`);
  console.log(`round trip intact: ${same}; peak RSS ${(rssPeak / MiB).toFixed(0)} MiB`);
} finally {
  await store.close();
  rmSync(directory, { recursive: true, force: true });
}
