// `npm run bench`: figures users care about, each as a ratio against a baseline measured in the same
// run (these machines are noisy), printed as a table and written to bench/results.md.
// A first slice of issue 7: the ingest path against raw AES-256-GCM, and signature recovery.
// Gas against a plain OpenZeppelin Governor is in snapshots/ (npm run gas:snapshot).
import { createCipheriv, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { keccak256, recoverTypedDataAddress, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { recoverTypedDataSigner } from "../pipeline-worker/src/chain/signatures.ts";
import { submissionDomain, submissionTypes } from "../pipeline-worker/src/chain/typedData.ts";
import { createSha256Tap } from "../pipeline-worker/src/crypto/createSha256Tap.ts";
import { encryptStream } from "../pipeline-worker/src/crypto/encryptStream.ts";
import { generateDataKey } from "../pipeline-worker/src/crypto/generateDataKey.ts";
import { generateKeyholderKeyPair } from "../pipeline-worker/src/crypto/keyholderKeys.ts";
import { splitDataKey } from "../pipeline-worker/src/crypto/splitDataKey.ts";
import { wrapKeyShare } from "../pipeline-worker/src/crypto/wrapKeyShare.ts";
import { createHeliaContentStore } from "../pipeline-worker/src/storage/createHeliaContentStore.ts";
import { repoRoot } from "./lib/contractArtifacts.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const REPEATS = Number(process.env.BENCH_REPEATS ?? 5);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function time(run: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

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

async function benchIngest(rows: string[][]) {
  const directory = mkdtempSync(path.join(tmpdir(), "bench-ingest-"));
  const store = await createHeliaContentStore({ directory });
  try {
    for (const [label, size] of [
      ["1 KiB", KiB],
      ["1 MiB", MiB],
      ["64 MiB", 64 * MiB],
    ] as const) {
      const payload = randomBytes(size);
      const raw: number[] = [];
      const full: number[] = [];
      for (let i = 0; i < REPEATS; i++) {
        raw.push(await time(() => rawAes(payload)));
        let cid = "";
        full.push(await time(async () => void (cid = await ingest(payload, store))));
        await store.remove(cid); // cleanup, not timed
      }
      const rate = (seconds: number) => `${(size / seconds / 1e6).toFixed(1)} MB/s`;
      const ratio = median(raw) / median(full);
      rows.push([
        `ingest ${label} (hash, encrypt, split, wrap, store)`,
        rate(median(full)),
        `raw AES-256-GCM ${rate(median(raw))}`,
        ratio.toFixed(3),
      ]);
      process.stdout.write(".");
    }
  } finally {
    await store.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

async function benchSignatures(rows: string[][]) {
  const account = privateKeyToAccount(`0x${"42".repeat(32)}`);
  const domain = submissionDomain(31337, `0x${"11".repeat(20)}`);
  const message = { contributor: account.address, dataHash: keccak256("0x01"), size: 1n, nonce: 1n, deadline: 1n };
  const definition = { domain, types: submissionTypes, primaryType: "Submission", message } as const;
  const signature: Hex = await account.signTypedData(definition);
  const count = 200;
  const viemOnly: number[] = [];
  const worker: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    viemOnly.push(
      await time(async () => {
        for (let n = 0; n < count; n++) await recoverTypedDataAddress({ ...definition, signature });
      }),
    );
    worker.push(
      await time(async () => {
        for (let n = 0; n < count; n++) await recoverTypedDataSigner(definition, signature);
      }),
    );
    process.stdout.write(".");
  }
  const perSecond = (seconds: number) => `${Math.round(count / seconds)} /s`;
  rows.push([
    "EIP-712 signer recovery with the worker's checks (low-s)",
    perSecond(median(worker)),
    `viem alone ${perSecond(median(viemOnly))}`,
    (median(viemOnly) / median(worker)).toFixed(3),
  ]);
}

const rows: string[][] = [];
process.stdout.write(`benchmarking (median of ${REPEATS})`);
await benchIngest(rows);
await benchSignatures(rows);
process.stdout.write("\n");

const header = ["what", "measured", "baseline, same run", "ratio to baseline"];
const table = [header, header.map(() => "---"), ...rows].map((r) => `| ${r.join(" | ")} |`).join("\n");
const text = `# Benchmarks\n\nWritten by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}, node ${process.version}, median of ${REPEATS} runs. Ratios compare with a baseline measured in the same run.\n\n${table}\n`;
console.log(table);
writeFileSync(path.join(repoRoot, "bench", "results.md"), text);
console.log("wrote bench/results.md");
