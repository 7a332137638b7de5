import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createLogger } from "../../src/internal/createLogger.ts";
import { createKeyholderServer } from "../../src/keyholder/createKeyholderServer.ts";
import { createWorkerSystem, type WorkerSystem } from "../helpers/createWorkerSystem.ts";
import { createSubmitter, trainingData, type Submitter } from "../helpers/submissions.ts";
import { createInputTally, expectRefusal, HOSTILE_TEST_TIMEOUT_MS } from "./expectRefusal.ts";
import { createHostileClient, exchangeRaw, type HostileClient, type RawExchange } from "./hostileHttp.ts";
import { readWorkerState, type WorkerState } from "./readWorkerState.ts";

// Clients that send their headers and then part of a body, and stop: against the worker's upload
// and JSON routes and a keyholder's, each with a short body idle timeout so that a stall is seen
// in well under a second. Every stalled request is answered REQUEST_TIMEOUT and its connection
// closed, nothing of a half upload is kept, the submission still takes its data, a body that is
// slow but never stops goes through, and both servers serve everyone else meanwhile.

const BODY_IDLE_TIMEOUT_MS = 400;

let s: WorkerSystem;
let submitter: Submitter;
let keyholderApp: FastifyInstance;
let keyholderUrl: string;
let worker: HostileClient;
let keyholder: HostileClient;
let before: WorkerState;
const tally = createInputTally("stalled request bodies");
vi.setConfig({ testTimeout: HOSTILE_TEST_TIMEOUT_MS });

beforeAll(async () => {
  s = await createWorkerSystem({ bodyIdleTimeoutMs: BODY_IDLE_TIMEOUT_MS });
  submitter = createSubmitter(s);
  keyholderApp = createKeyholderServer({
    privateKey: s.keyholderKeys[0]!.privateKey,
    client: s.publicClient,
    chainId: s.deployment.chainId,
    policyRegistry: s.deployment.contracts.policyRegistry,
    confirmations: 0,
    logger: createLogger({ level: "silent" }),
    bodyIdleTimeoutMs: BODY_IDLE_TIMEOUT_MS,
  }).app;
  keyholderUrl = await keyholderApp.listen({ host: "127.0.0.1", port: 0 });
  worker = createHostileClient(s.url);
  keyholder = createHostileClient(keyholderUrl);
  before = await state();
});
afterAll(async () => {
  tally.report();
  worker?.close();
  keyholder?.close();
  await keyholderApp?.close();
  await s?.close();
});

const state = () =>
  readWorkerState({
    worker: s.worker,
    dataDir: s.dataDir,
    client: worker,
    publicClient: s.publicClient,
    account: s.accounts.worker.account.address,
    contributor: s.accounts.contributor.account.address,
  });

/** The head of the contributor's upload of submission `id`, with its upload token. */
const uploadHead = (id: string, size: number) =>
  `PUT /v1/submissions/${id}/data HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n` +
  `Authorization: Bearer ${submitter.uploadToken(id)!}\r\nContent-Length: ${size}\r\n\r\n`;

const submissionState = async (id: string) =>
  (await (await fetch(`${s.url}/v1/submissions/${id}`)).json()) as { state: string; manifestCid: string | null };

/** Sends `bytes` and then nothing more, keeping the connection open, until the server closes it. */
function stall(url: string, bytes: string | Uint8Array): Promise<RawExchange & { elapsedMs: number }> {
  const started = performance.now();
  return exchangeRaw(url, bytes, { untilClosed: true, waitMs: 20 * BODY_IDLE_TIMEOUT_MS }).then((exchange) => ({
    ...exchange,
    elapsedMs: performance.now() - started,
  }));
}

/** The stalled request was answered REQUEST_TIMEOUT, no sooner than the timeout, and its connection closed. */
function expectTimedOut(exchange: RawExchange & { elapsedMs: number }, label: string) {
  expect(exchange.response, `${label}: no answer before the server closed`).toBeDefined();
  const refusal = expectRefusal(exchange.response!, ["REQUEST_TIMEOUT"]);
  expect(refusal.detail, label).toContain(`${BODY_IDLE_TIMEOUT_MS} ms`);
  expect(exchange.response!.headers.connection, label).toBe("close");
  expect(exchange.closedByServer, label).toBe(true);
  expect(exchange.elapsedMs, label).toBeGreaterThanOrEqual(BODY_IDLE_TIMEOUT_MS);
}

describe("PUT /v1/submissions/:id/data with a body that stops arriving", () => {
  it("answers REQUEST_TIMEOUT, closes the connection, keeps nothing, and then takes the whole data once", async () => {
    const { id, data } = await submitter.begin();
    before = await state();
    tally.add();
    const stalled = stall(s.url, Buffer.concat([Buffer.from(uploadHead(id, data.byteLength)), data.subarray(0, 700)]));
    // The worker serves others while the stalled upload holds its connection.
    expect((await worker.get("/healthz")).status).toBe(200);
    expect((await submissionState(id)).state).toBe("awaiting_data");
    expectTimedOut(await stalled, "stalled upload");

    // Nothing of the half upload is kept: no block, no manifest, and the submission still awaits its data.
    expect(await state()).toEqual(before);
    const waiting = await submissionState(id);
    expect(waiting.state).toBe("awaiting_data");
    expect(waiting.manifestCid).toBeNull();

    expect((await submitter.put(id, data)).status).toBe(202);
    const stored = await submissionState(id);
    expect(stored.state).toBe("stored");
    const after = await state();
    expect(Number(after.submissionsStored)).toBe(Number(before.submissionsStored) + 1);
    expect(after.blocks).toBeGreaterThan(before.blocks);
    await s.worker.flush();
    before = await state();
  });

  it("takes an upload that is slow but never pauses for as long as the timeout", async () => {
    const { id, data } = await submitter.begin(trainingData(30 * 1024));
    const gapMs = BODY_IDLE_TIMEOUT_MS / 4;
    const parts = Array.from({ length: 30 }, (_, i) => data.subarray(i * 1024, (i + 1) * 1024));
    tally.add();
    const started = performance.now();
    const exchange = await exchangeRaw(s.url, [uploadHead(id, data.byteLength), ...parts], {
      gapMs,
      waitMs: 60 * gapMs,
    });
    // The whole upload took many times the idle timeout; no pause in it came near it.
    expect(performance.now() - started).toBeGreaterThan(5 * BODY_IDLE_TIMEOUT_MS);
    expect(exchange.response?.status, exchange.raw.toString("utf8")).toBe(202);
    expect((await submissionState(id)).state).toBe("stored");
    await s.worker.flush();
    before = await state();
  });

  it("answers twenty stalled uploads at once and serves a whole submission meanwhile", async () => {
    const waiting = await Promise.all(Array.from({ length: 20 }, () => submitter.begin()));
    before = await state();
    tally.add(waiting.length);
    const stalled = waiting.map(({ id, data }) =>
      stall(s.url, Buffer.concat([Buffer.from(uploadHead(id, data.byteLength)), data.subarray(0, 100)])),
    );
    const { id, data } = await submitter.begin();
    expect((await submitter.put(id, data)).status).toBe(202);
    for (const exchange of await Promise.all(stalled)) expectTimedOut(exchange, "one of twenty");
    for (const { id: stalledId, data: stalledData } of waiting) {
      expect((await submitter.put(stalledId, stalledData)).status).toBe(202);
    }
    await s.worker.flush();
    before = await state();
  });
});

describe("JSON and spec bodies that stop arriving", () => {
  const json = (path: string) =>
    `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"a":`;
  const chunked = (path: string) =>
    `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n`;
  const cases: [string, () => string, () => HostileClient, string][] = [
    ["worker POST /v1/submissions", () => s.url, () => worker, json("/v1/submissions")],
    ["worker POST /v1/submissions, chunked", () => s.url, () => worker, chunked("/v1/submissions")],
    ["worker POST /v1/queries", () => s.url, () => worker, json("/v1/queries")],
    ["keyholder POST /v1/shares", () => keyholderUrl, () => keyholder, json("/v1/shares")],
  ];

  it.each(cases)(
    "%s: answers REQUEST_TIMEOUT, closes the connection, and keeps serving",
    async (label, url, client, bytes) => {
      tally.add();
      const stalled = stall(url(), bytes);
      expect((await client().get("/healthz")).status, label).toBe(200);
      expectTimedOut(await stalled, label);
      expect((await client().get("/healthz")).status, label).toBe(200);
      expect(await state()).toEqual(before);
    },
  );

  it("keyholder PUT /v1/runs/:runId/spec without the run operator's signature: refused at once, before its body is read, and its connection closed", async () => {
    tally.add();
    const exchange = await stall(
      keyholderUrl,
      `PUT /v1/runs/0x${"ab".repeat(32)}/spec HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n` +
        `Content-Length: 1000\r\n\r\n{"format":`,
    );
    expect(exchange.response).toBeDefined();
    expectRefusal(exchange.response!, ["SIGNATURE_INVALID"]);
    expect(exchange.closedByServer).toBe(true);
    expect(exchange.elapsedMs).toBeLessThan(BODY_IDLE_TIMEOUT_MS);
    expect((await keyholder.get("/healthz")).status).toBe(200);
    expect(await state()).toEqual(before);
  });
});

describe("bodies that no route reads and that stop arriving", () => {
  // A GET or HEAD is answered without its body being read; Node then discards the rest of the
  // body to reach the next request, and would wait for it for ever.
  const cases: [string, () => string, () => HostileClient, string, number][] = [
    ["worker GET /healthz", () => s.url, () => worker, "GET /healthz", 200],
    ["worker HEAD /v1/policy", () => s.url, () => worker, "HEAD /v1/policy", 200],
    ["worker GET /v1/nowhere", () => s.url, () => worker, "GET /v1/nowhere", 404],
    ["keyholder GET /healthz", () => keyholderUrl, () => keyholder, "GET /healthz", 200],
  ];

  it.each(cases)("%s: answers, then closes the connection", async (label, url, client, requestLine, status) => {
    tally.add();
    const started = performance.now();
    const exchange = await exchangeRaw(url(), `${requestLine} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc`, {
      untilClosed: true,
      waitMs: 20 * BODY_IDLE_TIMEOUT_MS,
    });
    // Read from the raw bytes: a HEAD answer has a Content-Length but no body.
    const head = exchange.raw.toString("latin1").split("\r\n\r\n")[0]!.toLowerCase();
    expect(head, `${label}: the answer`).toMatch(new RegExp(`^http/1\\.1 ${status} `));
    expect(head, label).toContain("\r\nconnection: close");
    expect(exchange.closedByServer, label).toBe(true);
    // Answered at once, not after the idle timeout: nothing waits on the body.
    expect(performance.now() - started, label).toBeLessThan(BODY_IDLE_TIMEOUT_MS);
    expect((await client().get("/healthz")).status, label).toBe(200);
    expect(await state()).toEqual(before);
  });
});
