import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Hex } from "viem";
import { createWorker, type Worker } from "../../src/createWorker.ts";
import { createLogger } from "../../src/internal/createLogger.ts";
import type { WorkerConfig } from "../../src/internal/loadConfig.ts";
import { createFaultyRpcProxy, type FaultyRpcProxy } from "../helpers/createFaultyRpcProxy.ts";
import { createWorkerSystem, type WorkerSystem } from "../helpers/createWorkerSystem.ts";
import { createSubmitter } from "../helpers/submissions.ts";

// Operators put credentials in URLs: a Kubo RPC API behind basic auth, an RPC provider's API key
// in the path. Neither may reach a client in a problem, nor a log line in an error's text.

let s: WorkerSystem;
let proxy: FaultyRpcProxy;
let worker: Worker;
let url: string;
let dataDir: string;
const lines: string[] = [];

/** A port on which nothing listens: the Kubo node is down. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

beforeAll(async () => {
  s = await createWorkerSystem();
  proxy = await createFaultyRpcProxy(s.publicClient.request);
  dataDir = await mkdtemp(path.join(tmpdir(), "worker-secrets-"));
  const config: WorkerConfig = {
    // The proxy answers on any path, as providers do under their key.
    rpcUrl: `${proxy.url}/v3/SECRETKEY`,
    chainId: s.deployment.chainId,
    deploymentManifest: path.join(s.dataDir, "deployment.json"),
    dataDir,
    http: { host: "127.0.0.1", port: 0, bodyIdleTimeoutMs: undefined },
    confirmations: 0,
    stalenessSeconds: 3600,
    maxPayloadBytes: 1024 * 1024,
    storage: { kind: "kubo", kuboUrl: `http://user:secret@127.0.0.1:${await closedPort()}/` },
    privateKey: `0x${"11".repeat(32)}` as Hex,
    logLevel: "debug",
  } as WorkerConfig;
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
  worker = await createWorker({
    config,
    logger: createLogger({ level: "debug", destination }),
    walletClient: s.accounts.worker,
    pollingIntervalMs: 60_000,
    autoRecord: false,
  });
  url = await worker.listen();
  await worker.policySync.poll();
});
afterAll(async () => {
  await worker?.close();
  await proxy?.close();
  await s?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe("secrets in configured URLs", () => {
  it("neither the Kubo URL's password nor the RPC URL's path key appears in any answer or log line", async () => {
    const bodies: string[] = [];
    const submitter = createSubmitter({ ...s, url });

    // The Kubo node is down: the upload is refused STORAGE_UNAVAILABLE, whose detail names the node.
    const { data, envelope } = await submitter.prepare();
    const posted = await submitter.post(envelope);
    bodies.push(JSON.stringify(posted.json));
    expect(posted.status).toBe(201);
    const refused = await submitter.put(posted.json.id as string, data);
    bodies.push(JSON.stringify(refused.json));
    expect(refused.json.code).toBe("STORAGE_UNAVAILABLE");
    expect(refused.json.detail).toContain("127.0.0.1");
    bodies.push(await (await fetch(`${url}/readyz`)).text());

    // The RPC node fails: viem's error, which quotes the URL, is logged by the policy sync.
    proxy.inject({ fault: { kind: "502", when: "before" } });
    await worker.policySync.poll().catch(() => undefined);
    const stale = await submitter.post((await submitter.prepare()).envelope);
    bodies.push(JSON.stringify(stale.json));
    proxy.clear();

    const logged = lines.join("\n");
    // The failures were logged, with where they happened ...
    expect(logged).toContain(proxy.url.replace("http://", ""));
    // ... and without the secrets.
    for (const text of [...bodies, logged]) {
      expect(text).not.toContain("secret");
      expect(text).not.toContain("SECRETKEY");
    }
  });
});
