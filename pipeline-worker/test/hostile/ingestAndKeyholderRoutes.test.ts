import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { keccak256, toHex, type Hex } from "viem";
import { generateKeyholderKeyPair } from "../../src/crypto/keyholderKeys.ts";
import type { ErrorCode } from "../../src/internal/errorCodes.ts";
import {
  formatSpecUploadAuthorization,
  keyholderDomain,
  shareRequestTypes,
  specUploadTypes,
  type ShareRequest,
} from "../../src/keyholder/shareRequest.ts";
import { encodeRunSpec, MAX_RUN_SPEC_BYTES, RUN_SPEC_FORMAT, runSpecHash } from "../../src/training/runSpec.ts";
import { collect, createSubmitter, trainingData, type Submitter } from "../helpers/submissions.ts";
import { createTrainingSystem, type Submitted, type TrainingSystem } from "../training/createTrainingSystem.ts";
import {
  createInputTally,
  expectNoServerError,
  expectRefusal,
  HOSTILE_TEST_TIMEOUT_MS,
  propertyRuns,
} from "./expectRefusal.ts";
import { hostileJsonBodies, mutateSignatureByte, otherEncodings, signatureByteMutation } from "./hostileBodies.ts";
import { createHostileClient, exchangeRaw, type HostileClient } from "./hostileHttp.ts";
import { readWorkerState, type WorkerState } from "./readWorkerState.ts";

// Hostile input against the worker's submission routes and the keyholders' routes, on a real
// chain with a real worker (Helia store, journal) and three keyholders over HTTP, and raw HTTP/1.1
// abuse against both servers: every refusal is a documented 4xx problem, nothing is journaled,
// no block is stored, no transaction is sent, no share leaves a keyholder, and both keep serving.

let t: TrainingSystem;
let submitter: Submitter;
let worker: HostileClient;
let keyholder: HostileClient;
let before: WorkerState;
let listed: Submitted;
let runId: Hex;
const tally = createInputTally("worker submission routes, keyholder routes, raw HTTP");
const runs = propertyRuns();
vi.setConfig({ testTimeout: HOSTILE_TEST_TIMEOUT_MS });

beforeAll(async () => {
  // Every input here must reach the checks behind the per-peer rate limit, which has tests of its
  // own (keyholder/keyholderAbuse.test.ts); the defaults would refuse the 31st spec of a minute.
  t = await createTrainingSystem({ keyholderRateLimit: { sharesPerMinute: 1_000_000, specsPerMinute: 1_000_000 } });
  submitter = createSubmitter(t.s);
  listed = await t.submitData(trainingData(2000));
  const spec = encodeRunSpec({
    format: RUN_SPEC_FORMAT,
    chainId: t.deployment.chainId,
    contributorRewards: t.contracts.contributorRewards,
    model: { kind: "embedded", dimensions: 1024, ngrams: 2 },
    submissions: [{ manifest: listed.manifest, dataHash: listed.dataHash }],
  });
  runId = await t.approveRun(runSpecHash(spec));
  await t.keyholders[0]!.putSpec(runId, spec);
  worker = createHostileClient(t.s.url);
  keyholder = createHostileClient(t.keyholders[0]!.url);
  before = await state();
});
afterAll(async () => {
  tally.report();
  worker?.close();
  keyholder?.close();
  await t?.closeAll();
});

const state = () =>
  readWorkerState({
    worker: t.s.worker,
    dataDir: t.s.dataDir,
    client: worker,
    publicClient: t.publicClient,
    account: t.accounts.worker.account.address,
    contributor: t.accounts.contributor.account.address,
  });

const postSubmission = (body: Buffer | string) => worker.post("/v1/submissions", body);

/** After hostile input: nothing changed in the worker, and a whole good submission still goes through. */
async function expectWorkerUnharmed() {
  expect(await state()).toEqual(before);
  await t.submitData(trainingData(500));
  before = await state();
}

describe("POST /v1/submissions under hostile input", () => {
  it("refuses malformed JSON, wrong types, missing and extra fields, truncated text and invalid UTF-8", async () => {
    const { envelope } = await submitter.prepare();
    await fc.assert(
      fc.asyncProperty(hostileJsonBodies(envelope as unknown as Record<string, never>), async (body) => {
        tally.add();
        expectRefusal(await postSubmission(body.bytes));
      }),
      { numRuns: runs },
    );
    await expectWorkerUnharmed();
  });

  it("refuses a signature with any byte changed, and every other encoding of a valid one", async () => {
    const { envelope } = await submitter.prepare();
    for (let index = 0; index < 65; index++) {
      tally.add();
      const signature = mutateSignatureByte(envelope.signature, { index, mask: 0x01 });
      expectRefusal(await postSubmission(JSON.stringify({ ...envelope, signature })), ["SIGNATURE_INVALID"]);
    }
    await fc.assert(
      fc.asyncProperty(signatureByteMutation, async (mutation) => {
        tally.add();
        const signature = mutateSignatureByte(envelope.signature, mutation);
        expectRefusal(await postSubmission(JSON.stringify({ ...envelope, signature })), ["SIGNATURE_INVALID"]);
      }),
      { numRuns: runs },
    );
    for (const { signature } of otherEncodings(envelope.signature)) {
      tally.add();
      expectRefusal(await postSubmission(JSON.stringify({ ...envelope, signature })), [
        "SIGNATURE_INVALID",
        "VALIDATION_FAILED",
      ]);
    }
    await expectWorkerUnharmed();
  });

  it("refuses a submission with any signed field changed after signing", async () => {
    const { envelope } = await submitter.prepare();
    const nowSeconds = Math.floor(Date.now() / 1000);
    // Numbers the schema's digit patterns let through but the EIP-712 types do not hold.
    for (const nonce of [2n ** 256n, 10n ** 78n - 1n]) {
      tally.add();
      expectRefusal(await postSubmission(JSON.stringify({ ...envelope, nonce: nonce.toString() })), [
        "VALIDATION_FAILED",
      ]);
    }
    const changed = fc.oneof(
      fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => ({ contributor: toHex(b) })),
      fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => ({ dataHash: toHex(b) })),
      fc.bigInt({ min: 0n, max: 2n ** 64n }).map((size) => ({ size: size.toString() })),
      fc.bigInt({ min: 0n, max: 2n ** 256n }).map((nonce) => ({ nonce: nonce.toString() })),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }).map((deadline) => ({ deadline })),
      fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }).map((chainId) => ({ chainId })),
    );
    await fc.assert(
      fc.asyncProperty(
        changed.filter((change) => Object.entries(change).some(([k, v]) => envelope[k as keyof typeof envelope] !== v)),
        async (change) => {
          tally.add();
          const refusal = expectRefusal(await postSubmission(JSON.stringify({ ...envelope, ...change })), [
            "SIGNATURE_INVALID",
            "SIGNATURE_EXPIRED",
            "WRONG_CHAIN",
            "PAYLOAD_TOO_LARGE",
            "VALIDATION_FAILED",
          ]);
          // The checks that need no signature come first, each with its own code.
          if ("deadline" in change && change.deadline < nowSeconds) expect(refusal.code).toBe("SIGNATURE_EXPIRED");
          if ("chainId" in change) expect(refusal.code).toBe("WRONG_CHAIN");
        },
      ),
      { numRuns: runs },
    );
    await expectWorkerUnharmed();
  });

  it("refuses replays, expired deadlines, other chains, strangers and missing attestations", async () => {
    const accepted = await submitter.prepare();
    const begun = await submitter.post(accepted.envelope);
    expect(begun.status).toBe(201);
    before = await state();
    const wallSeconds = Math.floor(Date.now() / 1000);
    const cases: [() => Promise<unknown>, ErrorCode][] = [
      [async () => accepted.envelope, "NONCE_REPLAYED"],
      [async () => ({ ...(await submitter.prepare({ data: accepted.data })).envelope }), "DUPLICATE_SUBMISSION"],
      // The worker's clock is the wall clock (the chain's runs ahead after governance's time travel).
      [async () => (await submitter.prepare({ deadline: wallSeconds - 1 })).envelope, "SIGNATURE_EXPIRED"],
      [async () => (await submitter.prepare({ domainChainId: 1 })).envelope, "SIGNATURE_INVALID"],
      [async () => (await submitter.prepare({ chainId: 1, domainChainId: 1 })).envelope, "WRONG_CHAIN"],
      [async () => (await submitter.prepare({ signer: t.accounts.outsider })).envelope, "SIGNATURE_INVALID"],
      [
        async () =>
          (await submitter.prepare({ contributor: t.accounts.outsider, signer: t.accounts.outsider })).envelope,
        "SUBMITTER_NOT_ALLOWED",
      ],
      [async () => (await submitter.prepare({ onchain: [] })).envelope, "ATTESTATION_INSUFFICIENT"],
      [async () => (await submitter.prepare({ attesters: [t.accounts.outsider] })).envelope, "ATTESTATION_INVALID"],
      [async () => (await submitter.prepare({ onchain: [keccak256("0x01")] })).envelope, "ATTESTATION_INVALID"],
    ];
    for (const [body, code] of cases) {
      tally.add();
      expectRefusal(await postSubmission(JSON.stringify(await body())), [
        code,
        ...(code === "ATTESTATION_INVALID" ? (["ATTESTATION_INSUFFICIENT"] as const) : []),
      ]);
    }
    expect(await state()).toEqual(before);
    // The accepted submission is still waiting for its data, and takes it.
    expect((await submitter.put(begun.json.id as string, accepted.data)).status).toBe(202);
    await t.s.worker.flush();
    before = await state();
    await expectWorkerUnharmed();
  });
});

describe("PUT /v1/submissions/:id/data under hostile input", () => {
  /** A submission accepted and waiting for its data, and the data it signed for. */
  async function begin() {
    const prepared = await submitter.prepare();
    const begun = await submitter.post(prepared.envelope);
    expect(begun.status).toBe(201);
    return { id: begun.json.id as string, data: prepared.data };
  }

  it("refuses uploads to ids that do not exist or are not ids, stores nothing", async () => {
    const id = fc.oneof(
      fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => toHex(b) as string),
      fc.string({ maxLength: 80 }).map((s) => encodeURIComponent(s)),
      fc.constantFrom("..", "..%2F..%2Fjournal", "0x" + "0".repeat(63), "0x" + "0".repeat(200), "%ff"),
    );
    await fc.assert(
      fc.asyncProperty(id, fc.uint8Array({ maxLength: 2000 }), async (target, data) => {
        tally.add();
        expectRefusal(
          await worker.send({
            method: "PUT",
            path: `/v1/submissions/${target}/data`,
            headers: { "content-type": "application/octet-stream" },
            body: data,
          }),
          ["NOT_FOUND", "VALIDATION_FAILED"],
        );
      }),
      { numRuns: runs },
    );
    await expectWorkerUnharmed();
  });

  it("refuses uploads by anyone without the submission's upload token, before reading a byte, and changes nothing", async () => {
    const { id, data } = await begin();
    const other = await begin();
    before = await state();
    const authorization = fc.oneof(
      fc.constant(undefined),
      fc.string({ maxLength: 80 }).map((v) => v.replace(/[^\x20-\x7e]/g, "")),
      fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => `Bearer ${Buffer.from(b).toString("base64url")}`),
      fc.constantFrom(
        `Bearer ${submitter.uploadToken(other.id)!}`,
        `Basic ${submitter.uploadToken(id)!}`,
        `Bearer ${submitter.uploadToken(id)!}x`,
        `Bearer ${submitter.uploadToken(id)!.slice(1)}`,
        "Bearer",
        `Bearer ${"A".repeat(43)}`,
      ),
    );
    await fc.assert(
      fc.asyncProperty(authorization, fc.uint8Array({ maxLength: 4000 }), async (header, body) => {
        tally.add();
        const refusal = expectRefusal(
          await worker.send({
            method: "PUT",
            path: `/v1/submissions/${id}/data`,
            headers: {
              "content-type": "application/octet-stream",
              ...(header === undefined ? {} : { authorization: header }),
            },
            body,
          }),
          ["UPLOAD_UNAUTHORISED", "VALIDATION_FAILED"],
        );
        expect(refusal.code).toBe("UPLOAD_UNAUTHORISED");
      }),
      { numRuns: runs },
    );
    expect(await state()).toEqual(before);
    const status = (await (await fetch(`${t.s.url}/v1/submissions/${id}`)).json()) as { state: string };
    expect(status.state).toBe("awaiting_data");
    // The contributor's own upload is taken after all that.
    expect((await submitter.put(id, data)).status).toBe(202);
    expect((await submitter.put(other.id, other.data)).status).toBe(202);
    await t.s.worker.flush();
    before = await state();
    await expectWorkerUnharmed();
  });

  it("refuses data that is not what was signed (other bytes, shorter, longer, empty), keeps no block of it, and then takes the signed bytes", async () => {
    const variants: [string, (data: Uint8Array) => Uint8Array, string, ErrorCode][] = [
      ["other bytes", (d) => randomBytes(d.byteLength), "application/octet-stream", "VALIDATION_FAILED"],
      [
        "one byte changed",
        (d) => Uint8Array.from(d, (b, i) => (i === 7 ? b ^ 1 : b)),
        "application/octet-stream",
        "VALIDATION_FAILED",
      ],
      ["one byte short", (d) => d.subarray(1), "application/octet-stream", "VALIDATION_FAILED"],
      ["one byte more", (d) => Buffer.concat([d, Buffer.from([0])]), "application/octet-stream", "PAYLOAD_TOO_LARGE"],
      [
        "a megabyte more",
        (d) => Buffer.concat([d, randomBytes(1024 * 1024)]),
        "application/octet-stream",
        "PAYLOAD_TOO_LARGE",
      ],
      ["empty", () => new Uint8Array(0), "application/octet-stream", "VALIDATION_FAILED"],
    ];
    for (const [label, change, contentType, code] of variants) {
      const { id, data } = await begin();
      before = await state();
      tally.add();
      const response = await worker.send({
        method: "PUT",
        path: `/v1/submissions/${id}/data`,
        headers: { "content-type": contentType, authorization: `Bearer ${submitter.uploadToken(id)!}` },
        body: change(data),
      });
      const refusal = expectRefusal(response);
      expect(refusal.code, label).toBe(code);
      // Nothing of the refused upload is kept, and the submission still awaits the signed bytes.
      expect(await state(), label).toEqual(before);
      const status = (await (await fetch(`${t.s.url}/v1/submissions/${id}`)).json()) as { state: string };
      expect(status.state, label).toBe("awaiting_data");
      expect((await submitter.put(id, data)).status, label).toBe(202);
      await t.s.worker.flush();
      before = await state();
    }
    await expectWorkerUnharmed();
  });

  it("refuses an upload in any content type but octet-stream before reading it: the submission still takes its data", async () => {
    const { id, data } = await begin();
    before = await state();
    const bodies: [string, Uint8Array][] = [
      ["application/json", Buffer.from(JSON.stringify({ data: Buffer.from(data).toString("base64") }))],
      ["text/plain", data],
      ["application/x-www-form-urlencoded", data],
      ["application/x-unknown", data],
      // A large body in a type Fastify would parse is not buffered: it is refused at once.
      ["application/json", Buffer.alloc(32 * 1024 * 1024, 0x20)],
    ];
    for (const [contentType, body] of bodies) {
      tally.add();
      const response = await worker.send({
        method: "PUT",
        path: `/v1/submissions/${id}/data`,
        headers: { "content-type": contentType },
        body,
      });
      expect(expectRefusal(response).code, contentType).toBe("VALIDATION_FAILED");
      expect(await state(), contentType).toEqual(before);
    }
    tally.add();
    expectRefusal(await worker.send({ method: "PUT", path: `/v1/submissions/${id}/data`, body: data }), [
      "VALIDATION_FAILED",
    ]);
    expect((await submitter.put(id, data)).status).toBe(202);
    await t.s.worker.flush();
    before = await state();
    await expectWorkerUnharmed();
  });

  it("survives an upload cut short (Content-Length larger than what arrives, the client gone), keeps no block, and takes the data again", async () => {
    const { id, data } = await begin();
    before = await state();
    for (const end of ["end", "destroy"] as const) {
      tally.add();
      const head =
        `PUT /v1/submissions/${id}/data HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n` +
        `Authorization: Bearer ${submitter.uploadToken(id)!}\r\nContent-Length: ${data.byteLength}\r\n\r\n`;
      const exchange = await exchangeRaw(t.s.url, Buffer.concat([Buffer.from(head), data.subarray(0, 700)]), {
        [end]: true,
      });
      if (exchange.response) expectRefusal(exchange.response);
      // Let the worker notice the closed socket before looking at what it kept.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await state(), end).toEqual(before);
    }
    expect((await submitter.put(id, data)).status).toBe(202);
    await t.s.worker.flush();
    before = await state();
    await expectWorkerUnharmed();
  });
});

describe("GET /v1/submissions and /v1/submissions/:id under hostile input", () => {
  it("answers any id and any contributor query with a result or a documented refusal, never a 5xx", async () => {
    const value = fc.oneof(
      fc.string({ maxLength: 120 }),
      fc.constantFrom("0x" + "a".repeat(40), "0x" + "A".repeat(64), "0x", "..", "%", "%ff", "a&contributor=b"),
    );
    await fc.assert(
      fc.asyncProperty(value, fc.boolean(), async (v, asId) => {
        tally.add();
        const encoded = encodeURIComponent(v).replace(/%25/g, v.includes("%ff") ? "%" : "%25");
        expectNoServerError(
          await worker.get(asId ? `/v1/submissions/${encoded}` : `/v1/submissions?contributor=${encoded}`),
        );
      }),
      { numRuns: runs },
    );
    expect(await state()).toEqual(before);
  });
});

/** A share request for the listed submission signed by the run's operator; fields can be overridden before signing. */
async function signShareRequest(
  overrides: Partial<Omit<ShareRequest, "signature">> & {
    chainId?: number;
    signer?: TrainingSystem["accounts"]["worker"];
  } = {},
): Promise<ShareRequest> {
  const message = {
    runId: overrides.runId ?? runId,
    manifest: overrides.manifest ?? listed.manifest,
    keyholder: overrides.keyholder ?? (await t.keyholders[0]!.publicKey()),
    ephemeralPublicKey: overrides.ephemeralPublicKey ?? toHex(generateKeyholderKeyPair().publicKey),
    issuedAt: BigInt(overrides.issuedAt ?? Math.floor(Date.now() / 1000)),
  };
  const signer = overrides.signer ?? t.accounts.worker;
  const signature = await signer.signTypedData({
    account: signer.account,
    domain: keyholderDomain(overrides.chainId ?? t.deployment.chainId, t.contracts.policyRegistry),
    types: shareRequestTypes,
    primaryType: "ShareRequest",
    message,
  });
  const manifestDocument =
    overrides.manifestDocument ?? new TextDecoder().decode(await collect(t.s.worker.store.get(listed.manifest)));
  return { ...message, issuedAt: Number(message.issuedAt), signature, manifestDocument };
}

const postShare = (body: Buffer | string) => keyholder.post("/v1/shares", body);

/** A refusal from a keyholder: a documented 4xx problem, and no share in it. */
function expectNoShare(response: Awaited<ReturnType<typeof postShare>>, codes?: readonly ErrorCode[]) {
  expectRefusal(response, codes);
  expect(response.body.toString("utf8")).not.toContain("wrappedShare");
}

/** The keyholder still releases a share to a good request, and the worker is untouched. */
async function expectKeyholderUnharmed() {
  const good = await postShare(JSON.stringify(await signShareRequest()));
  expect(good.status, good.body.toString()).toBe(200);
  expect(await state()).toEqual(before);
  // Nothing the keyholder met was an error it did not expect (it would count as INTERNAL).
  expect((await keyholder.get("/metrics")).body.toString()).not.toMatch(/^worker_errors_total\{code="INTERNAL"\}/m);
}

const SIGNED_REFUSALS: ErrorCode[] = [
  "SIGNATURE_INVALID",
  "SIGNATURE_EXPIRED",
  "VALIDATION_FAILED",
  "NOT_RUN_OPERATOR",
  "TRAINING_RUN_NOT_APPROVED",
];

describe("keyholder POST /v1/shares under hostile input", () => {
  it("refuses malformed JSON, wrong types, missing and extra fields, truncated text and invalid UTF-8", async () => {
    const valid = await signShareRequest();
    await fc.assert(
      fc.asyncProperty(hostileJsonBodies(valid as unknown as Record<string, never>), async (body) => {
        tally.add();
        expectNoShare(await postShare(body.bytes));
      }),
      { numRuns: runs },
    );
    await expectKeyholderUnharmed();
  });

  it("refuses a signature with any byte changed, and every other encoding of a valid one", async () => {
    const valid = await signShareRequest();
    for (let index = 0; index < 65; index++) {
      tally.add();
      const signature = mutateSignatureByte(valid.signature, { index, mask: 0x01 });
      expectNoShare(await postShare(JSON.stringify({ ...valid, signature })), [
        "SIGNATURE_INVALID",
        "NOT_RUN_OPERATOR",
      ]);
    }
    await fc.assert(
      fc.asyncProperty(signatureByteMutation, async (mutation) => {
        tally.add();
        const signature = mutateSignatureByte(valid.signature, mutation);
        expectNoShare(await postShare(JSON.stringify({ ...valid, signature })), [
          "SIGNATURE_INVALID",
          "NOT_RUN_OPERATOR",
        ]);
      }),
      { numRuns: runs },
    );
    for (const { signature } of otherEncodings(valid.signature)) {
      tally.add();
      expectNoShare(await postShare(JSON.stringify({ ...valid, signature })), [
        "SIGNATURE_INVALID",
        "VALIDATION_FAILED",
        "NOT_RUN_OPERATOR",
      ]);
    }
    await expectKeyholderUnharmed();
  });

  it("refuses a request with any signed field changed after signing", async () => {
    const valid = await signShareRequest();
    const nowSeconds = Math.floor(Date.now() / 1000);
    const changed = fc.oneof(
      fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => ({ runId: toHex(b) })),
      fc.stringMatching(/^[a-zA-Z0-9]{10,128}$/).map((manifest) => ({ manifest })),
      fc.constant(null).map(() => ({ keyholder: toHex(generateKeyholderKeyPair().publicKey) })),
      fc.constant(null).map(() => ({ ephemeralPublicKey: toHex(generateKeyholderKeyPair().publicKey) })),
      fc.uint8Array({ minLength: 33, maxLength: 33 }).map((b) => ({ ephemeralPublicKey: toHex(b) })),
      fc.integer({ min: nowSeconds - 250, max: nowSeconds + 50 }).map((issuedAt) => ({ issuedAt })),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }).map((issuedAt) => ({ issuedAt })),
    );
    await fc.assert(
      fc.asyncProperty(
        changed.filter((change) => Object.entries(change).some(([k, v]) => valid[k as keyof ShareRequest] !== v)),
        async (change) => {
          tally.add();
          expectNoShare(await postShare(JSON.stringify({ ...valid, ...change })), SIGNED_REFUSALS);
        },
      ),
      { numRuns: runs },
    );
    await expectKeyholderUnharmed();
  });

  it("refuses expired and future requests, other chains and signers, and forged manifests", async () => {
    const nowSeconds = Math.floor(Date.now() / 1000);
    const honest = new TextDecoder().decode(await collect(t.s.worker.store.get(listed.manifest)));
    const cases: [() => Promise<ShareRequest>, ErrorCode][] = [
      [() => signShareRequest({ issuedAt: nowSeconds - 3600 }), "SIGNATURE_EXPIRED"],
      [() => signShareRequest({ issuedAt: 0 }), "SIGNATURE_EXPIRED"],
      [() => signShareRequest({ issuedAt: nowSeconds + 3600 }), "VALIDATION_FAILED"],
      [() => signShareRequest({ chainId: 1 }), "NOT_RUN_OPERATOR"],
      [() => signShareRequest({ signer: t.accounts.outsider }), "NOT_RUN_OPERATOR"],
      [() => signShareRequest({ runId: keccak256("0x01") }), "TRAINING_RUN_NOT_APPROVED"],
      [() => signShareRequest({ keyholder: toHex(generateKeyholderKeyPair().publicKey) }), "VALIDATION_FAILED"],
      [() => signShareRequest({ ephemeralPublicKey: `0x04${"11".repeat(32)}` }), "VALIDATION_FAILED"],
      [() => signShareRequest({ manifestDocument: `${honest} ` }), "VALIDATION_FAILED"],
      [() => signShareRequest({ manifestDocument: "x".repeat(512 * 1024) }), "VALIDATION_FAILED"],
    ];
    for (const [request, code] of cases) {
      tally.add();
      expectNoShare(await postShare(JSON.stringify(await request())), [code]);
    }
    await expectKeyholderUnharmed();
  });

  it("refuses bodies over the limit and deeply nested JSON", async () => {
    const valid = await signShareRequest();
    const cases: [string | Buffer, ErrorCode][] = [
      [JSON.stringify({ ...valid, manifestDocument: "x".repeat(1024 * 1024 + 1) }), "PAYLOAD_TOO_LARGE"],
      [`{"manifestDocument":${"[".repeat(200_000)}${"]".repeat(200_000)}}`, "VALIDATION_FAILED"],
      ["", "VALIDATION_FAILED"],
    ];
    for (const [body, code] of cases) {
      tally.add();
      expectNoShare(await postShare(body), [code]);
    }
    await expectKeyholderUnharmed();
  });
});

describe("keyholder PUT /v1/runs/:runId/spec under hostile input", () => {
  /** The run operator's `Authorization` for a spec upload of `runId` to keyholder 0. */
  async function operatorAuthorization(): Promise<string> {
    const issuedAt = Math.floor(Date.now() / 1000);
    const signature = await t.accounts.worker.signTypedData({
      account: t.accounts.worker.account,
      domain: keyholderDomain(t.deployment.chainId, t.contracts.policyRegistry),
      types: specUploadTypes,
      primaryType: "SpecUpload",
      message: { runId, keyholder: await t.keyholders[0]!.publicKey(), issuedAt: BigInt(issuedAt) },
    });
    return formatSpecUploadAuthorization({ issuedAt, signature });
  }

  it("refuses any spec but the approved one, for any run id, in any content type", async () => {
    const id = fc.oneof(
      fc.constant(runId as string),
      fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => toHex(b) as string),
      fc.string({ maxLength: 80 }).map((s) => encodeURIComponent(s)),
    );
    const type = fc.constantFrom("application/octet-stream", "application/json", "text/plain", "application/x-unknown");
    await fc.assert(
      fc.asyncProperty(id, fc.uint8Array({ maxLength: 4000 }), type, async (target, spec, contentType) => {
        tally.add();
        // Signed by the run's operator, so that the bytes themselves are checked, not only who sent them.
        expectRefusal(
          await keyholder.send({
            method: "PUT",
            path: `/v1/runs/${target}/spec`,
            headers: { "content-type": contentType, authorization: await operatorAuthorization() },
            body: spec,
          }),
        );
      }),
      { numRuns: runs },
    );
    tally.add();
    expectRefusal(
      await keyholder.send({
        method: "PUT",
        path: `/v1/runs/${runId}/spec`,
        headers: { "content-type": "application/octet-stream", authorization: await operatorAuthorization() },
        body: Buffer.alloc(MAX_RUN_SPEC_BYTES + 1, 0x20),
      }),
      ["PAYLOAD_TOO_LARGE"],
    );
    await expectKeyholderUnharmed();
  });
});

describe("every route of the worker and the keyholder, with odd methods, paths and bodies", () => {
  const routes = {
    worker: ["/healthz", "/readyz", "/metrics", "/docs/errors.md", "/v1/policy", "/v1/eip712", "/v1/submissions"],
    keyholder: [
      "/healthz",
      "/readyz",
      "/metrics",
      "/v1/keyholder",
      "/v1/shares",
      "/v1/runs/0x" + "ab".repeat(32) + "/spec",
    ],
  };
  const methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND", "TRACE"];

  it("answers anything without a 5xx", async () => {
    const suffix = fc.oneof(
      fc.constantFrom("", "/", "/..", "/%2e%2e/%2e%2e/", "?x=%ff", "?a=1&a=2", "%", "/%c0%af", ";"),
      fc.string({ maxLength: 40 }).map((s) => encodeURIComponent(s)),
    );
    const server = fc.constantFrom("worker" as const, "keyholder" as const);
    await fc.assert(
      fc.asyncProperty(
        server.chain((name) => fc.tuple(fc.constant(name), fc.constantFrom(...routes[name]))),
        fc.constantFrom(...methods),
        suffix,
        fc.option(fc.string({ maxLength: 200 }), { nil: undefined }),
        async ([name, route], method, tail, body) => {
          tally.add();
          const response = await (name === "worker" ? worker : keyholder).send({
            method,
            path: `${route}${tail}`,
            ...(body === undefined ? {} : { body, headers: { "content-type": "application/json" } }),
          });
          if (method === "HEAD") expect(response.status).toBeLessThan(500);
          else expectNoServerError(response);
        },
      ),
      { numRuns: runs },
    );
    await expectKeyholderUnharmed();
  });
});

describe("raw HTTP/1.1 abuse of both servers", () => {
  const long = "a".repeat(64 * 1024);
  const cases: [string, string, { end?: boolean; destroy?: boolean }][] = [
    ["not HTTP", "GARBAGE\r\n\r\n", {}],
    ["HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", {}],
    ["unknown method", "BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n", {}],
    ["headers over the limit", `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: ${long}\r\n\r\n`, {}],
    ["URL over the limit", `GET /${long} HTTP/1.1\r\nHost: x\r\n\r\n`, {}],
    ["NUL in a header", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n", {}],
    ["bad Content-Length", "POST /v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", {}],
    ["two Content-Lengths", "POST /v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", {}],
    [
      "Content-Length and chunked",
      "POST /v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      {},
    ],
    ["bad chunk size", "POST /v1/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n", {}],
    ["bad UTF-8 in the URL", "GET /v1/\xc0\xaf\xff HTTP/1.1\r\nHost: x\r\n\r\n", {}],
    [
      "Content-Length shorter than the body",
      `POST /v1/x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}GARBAGE\r\n\r\n`,
      {},
    ],
  ];
  const bodyCases = (path: string): [string, string, { end?: boolean; destroy?: boolean }][] => [
    [
      "body cut short, client half-closes",
      `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"a":`,
      { end: true },
    ],
    [
      "body cut short, client vanishes",
      `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"a":`,
      { destroy: true },
    ],
    [
      "chunked body cut short",
      `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"a":`,
      { end: true },
    ],
    ["headers cut short", `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Ty`, { end: true }],
  ];

  it.each(["worker", "keyholder"] as const)(
    "the %s answers each with a documented refusal or closes, and keeps serving",
    async (name) => {
      const url = name === "worker" ? t.s.url : t.keyholders[0]!.url;
      const client = name === "worker" ? worker : keyholder;
      const all = [
        ...cases,
        ...bodyCases(name === "worker" ? "/v1/submissions" : "/v1/shares"),
        ...(name === "worker" ? bodyCases("/v1/queries") : []),
      ];
      for (const [label, bytes, options] of all) {
        tally.add();
        const exchange = await exchangeRaw(url, bytes, options);
        if (exchange.response) {
          const refusal = expectRefusal(exchange.response);
          expect(refusal.code, label).toBeDefined();
        } else {
          // Only a client that left (or that never finished its request) may go unanswered.
          expect(options.end || options.destroy, `${label}: no answer`).toBeTruthy();
        }
        expect((await client.get("/healthz")).status, label).toBe(200);
      }
      await expectKeyholderUnharmed();
    },
  );

  // Node looks for stalled headers every 30 seconds, so this one runs in the soak only.
  it.runIf(process.env.SOAK)("answers headers that never finish with REQUEST_TIMEOUT and keeps serving", async () => {
    const server = t.s.worker.app.server;
    const headersTimeout = server.headersTimeout;
    server.headersTimeout = 1_000;
    try {
      tally.add();
      const exchange = await exchangeRaw(t.s.url, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a", { waitMs: 70_000 });
      expectRefusal(exchange.response!, ["REQUEST_TIMEOUT"]);
      expect((await worker.get("/healthz")).status).toBe(200);
    } finally {
      server.headersTimeout = headersTimeout;
    }
  });
});
