import { createHash } from "node:crypto";
import { request } from "node:http";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Hex } from "viem";
import { createWorkerSystem, type WorkerSystem } from "../helpers/createWorkerSystem.ts";
import { createSubmitter, trainingDataChunks } from "../helpers/submissions.ts";

// UPLOAD_MIB=1024 tries a larger one (it passes too); `npm run bench -- ingest` measures the
// worker's peak memory for 64 MiB, 256 MiB and 1 GiB, each in a fresh process.
const SIZE = Number(process.env.UPLOAD_MIB ?? 256) * 1024 * 1024;
const CHUNK = 1024 * 1024;

let s: WorkerSystem;
beforeAll(async () => {
  s = await createWorkerSystem({ maxPayloadBytes: SIZE });
});
afterAll(async () => {
  await s?.close();
});

/** The same training data every time (records of pseudo-random text), made as it is sent, never held whole. */
const deterministicChunks = () => trainingDataChunks(SIZE, CHUNK);

describe("a large submission", () => {
  it("streams from the socket to IPFS without the worker holding it whole", async () => {
    const hash = createHash("sha256");
    for (const chunk of deterministicChunks()) hash.update(chunk);
    const dataHash = `0x${hash.digest("hex")}` as Hex;
    const client = createSubmitter(s);
    // The signed and attested claim is about these bytes; `prepare` only needs their hash and size.
    const { envelope } = await client.prepare({ data: new Uint8Array(0), dataHash, size: BigInt(SIZE) });
    const id = (await client.post(envelope)).json.id as string;

    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    // node:http with backpressure, not fetch: undici's fetch keeps a streamed request body's
    // chunks around until a later GC, which would be measured here as the worker's memory.
    try {
      const answer = await new Promise<{ state: string }>((resolve, reject) => {
        const url = new URL(`${s.url}/v1/submissions/${id}/data`);
        const upload = request(
          {
            host: url.hostname,
            port: url.port,
            path: url.pathname,
            method: "PUT",
            headers: { "content-type": "application/octet-stream", authorization: `Bearer ${client.uploadToken(id)!}` },
          },
          (response) => {
            const parts: Buffer[] = [];
            response.on("data", (part: Buffer) => parts.push(part));
            response.on("end", () => resolve(JSON.parse(Buffer.concat(parts).toString()) as { state: string }));
          },
        );
        upload.on("error", reject);
        pipeline(Readable.from(deterministicChunks()), upload).catch(reject);
      });
      expect(answer.state).toBe("stored");
    } finally {
      clearInterval(sampler);
    }
    // Client and worker share this process; holding the upload anywhere would show here. The bound
    // is three quarters of the upload, not less: validating it as training data (JSON parsing,
    // normalisation, MinHash) makes garbage the collector frees late, and the peak grew by 81, 115
    // and 135 MiB for uploads of 64, 128 and 256 MiB (2026-12-07): bounded, not flat.
    const growthMiB = (peak - baseline) / 1024 / 1024;
    expect(growthMiB).toBeLessThan((0.75 * SIZE) / 1024 / 1024);
  });
});
