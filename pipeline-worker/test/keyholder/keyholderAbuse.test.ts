import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createPublicClient, http, keccak256, toHex, type Hex, type PublicClient } from "viem";
import type { Wallet } from "../../../test/helpers/system.ts";
import { generateKeyholderKeyPair } from "../../src/crypto/keyholderKeys.ts";
import { createLogger } from "../../src/internal/createLogger.ts";
import { createKeyholderClient } from "../../src/keyholder/createKeyholderClient.ts";
import { createKeyholderServer } from "../../src/keyholder/createKeyholderServer.ts";
import { keyholderDomain, shareRequestTypes } from "../../src/keyholder/shareRequest.ts";
import { encodeRunSpec, RUN_SPEC_FORMAT, runSpecHash } from "../../src/training/runSpec.ts";
import { createFaultyRpcProxy, type FaultyRpcProxy } from "../helpers/createFaultyRpcProxy.ts";
import { collect, trainingData } from "../helpers/submissions.ts";
import { createTrainingSystem, type Submitted, type TrainingSystem } from "../training/createTrainingSystem.ts";

// What an anonymous peer can make a keyholder spend. Its RPC node is usually a paid, rate-limited
// endpoint shared with nothing else: every call an anonymous request costs is a call an attacker
// can multiply. The keyholder here reads the chain through a JSON-RPC proxy that counts calls.

let t: TrainingSystem;
let proxy: FaultyRpcProxy;
let listed: Submitted;
let manifestDocument: string;
let spec: Uint8Array;
let runId: Hex;
const servers: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  t = await createTrainingSystem();
  listed = await t.submitData(trainingData(2000));
  manifestDocument = new TextDecoder().decode(await collect(t.s.worker.store.get(listed.manifest)));
  spec = encodeRunSpec({
    format: RUN_SPEC_FORMAT,
    chainId: t.deployment.chainId,
    contributorRewards: t.contracts.contributorRewards,
    model: { kind: "embedded", dimensions: 1024, ngrams: 2 },
    submissions: [{ manifest: listed.manifest, dataHash: listed.dataHash }],
  });
  runId = await t.approveRun(runSpecHash(spec));
  proxy = await createFaultyRpcProxy(t.publicClient.request);
});
afterAll(async () => {
  for (const server of servers) await server.close();
  await proxy?.close();
  await t?.closeAll();
});
beforeEach(() => {
  proxy.calls.length = 0;
});

/** A keyholder (keyholder 0's key) that reads the chain over HTTP through the counting proxy. */
async function startKeyholder(options: { sharesPerMinute?: number; specsPerMinute?: number } = {}) {
  const { app } = createKeyholderServer({
    privateKey: t.s.keyholderKeys[0]!.privateKey,
    client: createPublicClient({ transport: http(proxy.url) }) as PublicClient,
    chainId: t.deployment.chainId,
    policyRegistry: t.contracts.policyRegistry,
    confirmations: 0,
    logger: createLogger({ level: "silent" }),
    bodyIdleTimeoutMs: 20_000,
    rateLimit: { sharesPerMinute: options.sharesPerMinute ?? 10_000, specsPerMinute: options.specsPerMinute ?? 10_000 },
  });
  const url = await app.listen({ host: "127.0.0.1", port: 0 });
  servers.push(app);
  return url;
}

/** A share request signed by `signer`, as anyone can make one. */
async function shareRequest(signer: Wallet, run: Hex = runId) {
  const message = {
    runId: run,
    manifest: listed.manifest,
    keyholder: toHex(t.s.keyholderKeys[0]!.publicKey),
    ephemeralPublicKey: toHex(generateKeyholderKeyPair().publicKey),
    issuedAt: BigInt(Math.floor(Date.now() / 1000)),
  };
  const signature = await signer.signTypedData({
    account: signer.account,
    domain: keyholderDomain(t.deployment.chainId, t.contracts.policyRegistry),
    types: shareRequestTypes,
    primaryType: "ShareRequest",
    message,
  });
  return JSON.stringify({ ...message, issuedAt: Number(message.issuedAt), signature, manifestDocument });
}

async function post(url: string, body: string) {
  const response = await fetch(`${url}/v1/shares`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
  return {
    status: response.status,
    type: response.headers.get("content-type"),
    json: (await response.json()) as Record<string, unknown>,
  };
}

describe("keyholder: what anonymous requests cost it", () => {
  it("100 share requests signed by a stranger for an approved run cost at most one RPC call, not five each", async () => {
    const url = await startKeyholder();
    const body = await shareRequest(t.accounts.outsider);
    const answers = [];
    for (let i = 0; i < 100; i++) answers.push(await post(url, body));
    expect(new Set(answers.map((a) => `${a.status} ${a.json.code}`))).toEqual(new Set(["403 NOT_RUN_OPERATOR"]));
    console.log(
      `100 stranger's share requests: ${proxy.calls.length} RPC calls (${[...new Set(proxy.calls)].join(", ")})`,
    );
    expect(proxy.calls.length).toBeLessThanOrEqual(1);
  });

  it("100 share requests for runs that do not exist cost at most one RPC call each", async () => {
    const url = await startKeyholder();
    for (let i = 0; i < 100; i++) {
      const answer = await post(url, await shareRequest(t.accounts.outsider, keccak256(randomBytes(32))));
      expect(answer.json.code).toBe("TRAINING_RUN_NOT_APPROVED");
    }
    console.log(`100 share requests for unknown runs: ${proxy.calls.length} RPC calls`);
    expect(proxy.calls.length).toBeLessThanOrEqual(100);
  });

  it("the operator's requests read the run's approval once per head, not once per request", async () => {
    const url = await startKeyholder();
    const client = createKeyholderClient({ url, operator: t.accounts.worker });
    await client.putSpec(runId, spec);
    proxy.calls.length = 0;
    for (let i = 0; i < 10; i++) expect((await post(url, await shareRequest(t.accounts.worker))).status).toBe(200);
    console.log(`10 operator's share requests at one head: ${proxy.calls.length} RPC calls`);
    // One head read per request (a kill switch must count at once) and the run's reads once.
    expect(proxy.calls.filter((method) => method === "eth_getBlockByNumber").length).toBe(10);
    expect(proxy.calls.length).toBeLessThanOrEqual(10 + 4);
  });

  it("a stranger cannot PUT a run spec: refused before its body is read and before any chain read", async () => {
    const url = await startKeyholder();
    // A body that sends one chunk and then nothing: a keyholder that buffered it first would wait.
    let sent = false;
    const started = Date.now();
    const response = await fetch(`${url}/v1/runs/${runId}/spec`, {
      method: "PUT",
      headers: { "content-type": "application/octet-stream" },
      body: new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (sent) return new Promise<void>(() => undefined);
          sent = true;
          controller.enqueue(new Uint8Array(64 * 1024));
        },
      }),
      duplex: "half",
    } as RequestInit);
    const json = (await response.json()) as Record<string, unknown>;
    expect({ status: response.status, code: json.code }).toEqual({ status: 401, code: "SIGNATURE_INVALID" });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(proxy.calls).toEqual([]);

    // The right spec, signed by someone who is not the run's operator, is refused as well.
    const stranger = createKeyholderClient({ url, operator: t.accounts.outsider });
    await expect(stranger.putSpec(runId, spec)).rejects.toMatchObject({ code: "NOT_RUN_OPERATOR" });
  });

  it("a peer sending more share requests than the per-peer limit is answered 429 RATE_LIMITED", async () => {
    const url = await startKeyholder({ sharesPerMinute: 20 });
    const body = await shareRequest(t.accounts.outsider);
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof post>> | undefined;
    for (let i = 0; i < 25; i++) {
      const answer = await post(url, body);
      statuses.push(answer.status);
      if (answer.status === 429) limited = answer;
    }
    expect(statuses.filter((s) => s === 429)).toHaveLength(5);
    expect(limited!.type).toContain("application/problem+json");
    expect(limited!.json).toMatchObject({ code: "RATE_LIMITED", retryable: true });
  });
});
