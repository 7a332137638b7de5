// The ingest path (hash, encrypt, split and wrap the key, store) against raw AES-256-GCM.
import { createCipheriv, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createSha256Tap } from "../../pipeline-worker/src/crypto/createSha256Tap.ts";
import { encryptStream } from "../../pipeline-worker/src/crypto/encryptStream.ts";
import { generateDataKey } from "../../pipeline-worker/src/crypto/generateDataKey.ts";
import { generateKeyholderKeyPair } from "../../pipeline-worker/src/crypto/keyholderKeys.ts";
import { splitDataKey } from "../../pipeline-worker/src/crypto/splitDataKey.ts";
import { wrapKeyShare } from "../../pipeline-worker/src/crypto/wrapKeyShare.ts";
import { createHeliaContentStore } from "../../pipeline-worker/src/storage/createHeliaContentStore.ts";
import { median, ratio, time, type BenchContext, type BenchSection } from "./measure.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

function* chunks(payload: Buffer): Generator<Uint8Array> {
  for (let offset = 0; offset < payload.byteLength; offset += MiB) yield payload.subarray(offset, offset + MiB);
}

/** The baseline: one AES-256-GCM pass over the payload, 1 MiB updates, nothing else. */
async function rawAes(payload: Buffer): Promise<void> {
  const cipher = createCipheriv("aes-256-gcm", randomBytes(32), randomBytes(12));
  for (const chunk of chunks(payload)) cipher.update(chunk);
  cipher.final();
}

const committee = [generateKeyholderKeyPair(), generateKeyholderKeyPair(), generateKeyholderKeyPair()];

/** What the worker does to every submission's bytes: hash, encrypt, split and wrap the key, store. */
async function ingest(payload: Buffer, store: Awaited<ReturnType<typeof createHeliaContentStore>>): Promise<string> {
  const key = generateDataKey();
  const associatedData = Buffer.from("bench submission");
  const hash = createSha256Tap();
  const put = await store.put(encryptStream(hash.tap(chunks(payload)), { key, associatedData }));
  const shares = await splitDataKey(key, { threshold: 2, shares: committee.length });
  shares.forEach((share, i) =>
    wrapKeyShare(share, { recipientPublicKey: committee[i]!.publicKey, context: associatedData }),
  );
  return put.cid.toString();
}

export async function benchIngest({ repeats, progress }: BenchContext): Promise<BenchSection> {
  const rows: string[][] = [];
  const directory = mkdtempSync(path.join(tmpdir(), "bench-ingest-"));
  const store = await createHeliaContentStore({ directory });
  try {
    for (const [label, size] of [
      ["1 KiB", KiB],
      ["1 MiB", MiB],
      ["64 MiB", 64 * MiB],
    ] as const) {
      progress(`ingest ${label}`);
      const payload = randomBytes(size);
      const raw: number[] = [];
      const full: number[] = [];
      for (let i = 0; i < repeats; i++) {
        raw.push(await time(() => rawAes(payload)));
        let cid = "";
        full.push(await time(async () => void (cid = await ingest(payload, store))));
        await store.remove(cid); // cleanup, not timed
      }
      const rate = (seconds: number) => `${(size / seconds / 1e6).toFixed(1)} MB/s`;
      rows.push([
        `ingest ${label} (hash, encrypt, split, wrap, store)`,
        rate(median(full)),
        `raw AES-256-GCM ${rate(median(raw))}`,
        ratio(median(raw) / median(full)),
      ]);
    }
  } finally {
    await store.close();
    rmSync(directory, { recursive: true, force: true });
  }
  return {
    title: "Ingest",
    columns: ["what", "measured", "baseline, same run", "ratio to baseline"],
    rows,
  };
}
