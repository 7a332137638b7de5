import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { keccak256, toHex, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { usageSettlementAbi } from "../../../deployments/abis.ts";
import { openAiErrorSchema } from "../../src/api/openAiWire.ts";
import type { SignedQueryRequest } from "../../src/api/consumerWire.ts";
import type { ErrorCode } from "../../src/internal/errorCodes.ts";
import {
  createInferenceTestSystem,
  type InferenceTestSystem,
  type InferenceTestWorker,
} from "../inference/createInferenceTestSystem.ts";
import { hostileJsonBodies, mutateSignatureByte, otherEncodings, signatureByteMutation } from "./hostileBodies.ts";
import { createHostileClient, type HostileClient, type HostileResponse } from "./hostileHttp.ts";
import {
  catalogueAndDocsAgree,
  createInputTally,
  documentedCodes,
  expectNoServerError,
  expectRefusal,
  HOSTILE_TEST_TIMEOUT_MS,
  propertyRuns,
} from "./expectRefusal.ts";
import { readWorkerState, type WorkerState } from "./readWorkerState.ts";

// Hostile input against the query routes of a real worker on a real local chain: whatever is sent,
// the worker answers with a documented 4xx problem, counts no usage, stores nothing, sends no
// transaction, and keeps serving good queries.

let t: InferenceTestSystem;
let w: InferenceTestWorker;
let client: HostileClient;
let before: WorkerState;
const tally = createInputTally("worker query routes");
const runs = propertyRuns();
vi.setConfig({ testTimeout: HOSTILE_TEST_TIMEOUT_MS });

beforeAll(async () => {
  t = await createInferenceTestSystem({ quota: 1_000n });
  w = await t.startWorker();
  client = createHostileClient(await w.worker.listen());
  before = await state();
});
afterAll(async () => {
  tally.report();
  client?.close();
  await t?.cleanUp();
});

const state = () =>
  readWorkerState({
    worker: w.worker,
    dataDir: w.dataDir,
    client,
    publicClient: t.publicClient,
    account: w.address,
    consumer: t.consumer.address,
  });

const postQuery = (body: Buffer | string, contentType = "application/json") =>
  client.post("/v1/queries", body, contentType);

/** After hostile input: a good query is still served, and it is the only thing counted since `before`. */
async function expectUnharmed() {
  expect(await state()).toEqual(before);
  // The lane's next total, as the worker reports it: the hostile requests spent none.
  const { nextTotal } = (await t.quotaOf(w)).body as { nextTotal: string };
  const good = await postQuery(JSON.stringify(await t.signQuery({ total: BigInt(nextTotal) })));
  expect(good.status, good.body.toString()).toBe(200);
  const after = await state();
  // One lane waits for settlement, charged one query more.
  expect(after.pendingUsage).toBe(1);
  expect(BigInt(after.unsettledOfConsumer)).toBe(BigInt(before.unsettledOfConsumer) + 1n);
  before = after;
}

describe("POST /v1/queries under hostile input", () => {
  it("the error catalogue in the source and docs/errors.md agree", () => {
    catalogueAndDocsAgree();
  });

  it("refuses malformed JSON, wrong types, missing and extra fields, truncated text and invalid UTF-8", async () => {
    const valid = (await t.signQuery()) as unknown as Record<string, never>;
    await fc.assert(
      fc.asyncProperty(hostileJsonBodies(valid), async (body) => {
        tally.add();
        expectRefusal(await postQuery(body.bytes));
      }),
      { numRuns: runs },
    );
    await expectUnharmed();
  });

  it("refuses a signature with any byte changed", async () => {
    const valid = await t.signQuery();
    // Every byte of r, s and v, flipped in its low bit, its high bit and all bits ...
    for (let index = 0; index < 65; index++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        tally.add();
        const signature = mutateSignatureByte(valid.signature, { index, mask });
        expectRefusal(await postQuery(JSON.stringify({ ...valid, signature })), ["SIGNATURE_INVALID"]);
      }
    }
    // ... and any byte with any change.
    await fc.assert(
      fc.asyncProperty(signatureByteMutation, async (mutation) => {
        tally.add();
        const signature = mutateSignatureByte(valid.signature, mutation);
        expectRefusal(await postQuery(JSON.stringify({ ...valid, signature })), ["SIGNATURE_INVALID"]);
      }),
      { numRuns: runs },
    );
    await expectUnharmed();
  });

  it("refuses the other encodings of a valid signature (high s, v as a parity bit, compact, padded)", async () => {
    const valid = await t.signQuery();
    for (const { label, signature } of otherEncodings(valid.signature)) {
      tally.add();
      const refusal = expectRefusal(await postQuery(JSON.stringify({ ...valid, signature })), [
        "SIGNATURE_INVALID",
        "VALIDATION_FAILED",
      ]);
      expect(refusal.code, label).toBeDefined();
    }
    await expectUnharmed();
  });

  it("refuses v written as a parity bit (0 or 1), which UsageSettlement could never settle", async () => {
    const valid = await t.signQuery();
    const parity = otherEncodings(valid.signature).find((encoding) => encoding.label === "v as y-parity")!.signature;
    // The chain's own rule (OpenZeppelin's ECDSA takes v = 27 or 28 only): a worker that served
    // this query would count it and answer it, and its settlement would be dropped, unpaid.
    const voucher = {
      consumer: valid.consumer,
      epoch: BigInt(valid.epoch),
      total: BigInt(valid.total),
      maxFeePerQuery: BigInt(valid.maxFeePerQuery),
      inputHash: keccak256(toHex(valid.input)),
      deadline: BigInt(valid.deadline),
    };
    await expect(
      t.publicClient.simulateContract({
        account: w.address,
        address: t.deployment.contracts.usageSettlement,
        abi: usageSettlementAbi,
        functionName: "settle",
        args: [[{ ...voucher, signature: parity }]],
      }),
    ).rejects.toThrow(/UsageInvalidSignature/);
    tally.add();
    expectRefusal(await postQuery(JSON.stringify({ ...valid, signature: parity })), ["SIGNATURE_INVALID"]);
    await expectUnharmed();
  });

  it("refuses a query with any signed field changed after signing", async () => {
    const valid = await t.signQuery();
    const changed = fc.oneof(
      fc
        .uint8Array({ minLength: 20, maxLength: 20 })
        .map((bytes) => ({ consumer: `0x${Buffer.from(bytes).toString("hex")}` })),
      fc.string({ minLength: 1, maxLength: 200 }).map((input) => ({ input })),
      fc.bigInt({ min: 1n, max: 2n ** 64n - 1n }).map((total) => ({ total: total.toString() })),
      fc.bigInt({ min: 0n, max: 2n ** 256n - 1n }).map((fee) => ({ maxFeePerQuery: fee.toString() })),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((epoch) => ({ epoch: epoch.toString() })),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }).map((deadline) => ({ deadline })),
    );
    await fc.assert(
      fc.asyncProperty(
        changed.filter((change) => Object.entries(change).some(([k, v]) => valid[k as keyof SignedQueryRequest] !== v)),
        async (change) => {
          tally.add();
          expectRefusal(await postQuery(JSON.stringify({ ...valid, ...change })), ["SIGNATURE_INVALID"]);
        },
      ),
      { numRuns: runs },
    );
    await expectUnharmed();
  });

  it("refuses a replayed total, in the same shape or another, and counts the query once", async () => {
    const valid = await t.signQuery();
    expect((await postQuery(JSON.stringify(valid))).status).toBe(200);
    before = await state();
    for (let i = 0; i < 3; i++) {
      tally.add();
      expectRefusal(await postQuery(JSON.stringify(valid)), ["TOTAL_REPLAYED"]);
    }
    tally.add();
    expectRefusal(
      await postQuery(JSON.stringify({ ...valid, consumer: valid.consumer.toUpperCase().replace("0X", "0x") })),
      ["TOTAL_REPLAYED"],
    );
    // The same total signed again over another input is a replay too.
    tally.add();
    const resigned = await t.signQuery({ total: BigInt(valid.total), input: "another input" });
    expectRefusal(await postQuery(JSON.stringify(resigned)), ["TOTAL_REPLAYED"]);
    await expectUnharmed();
  });

  it("refuses expired deadlines, other epochs, other chains and other contracts, and unknown signers", async () => {
    const nowSeconds = BigInt(Math.floor(t.clock.now() / 1000));
    const epoch = await t.currentEpoch();
    const stranger = privateKeyToAccount(`0x${"42".repeat(32)}`);
    const cases: [() => Promise<SignedQueryRequest>, string][] = [
      [() => t.signQuery({ deadline: nowSeconds - 1n }), "SIGNATURE_EXPIRED"],
      [() => t.signQuery({ deadline: 0n }), "SIGNATURE_EXPIRED"],
      [() => t.signQuery({ epoch: epoch + 1n }), "WRONG_EPOCH"],
      [() => t.signQuery({ epoch: epoch + 1000n }), "WRONG_EPOCH"],
      [() => t.signQuery({ epoch: 2n ** 64n - 1n }), "WRONG_EPOCH"],
      [() => t.signQuery({ chainId: 1 }), "SIGNATURE_INVALID"],
      [() => t.signQuery({ chainId: t.deployment.chainId + 1 }), "SIGNATURE_INVALID"],
      [() => t.signQuery({ usageSettlement: t.deployment.contracts.policyRegistry }), "SIGNATURE_INVALID"],
      [() => t.signQuery({ signedInput: "what was signed" }), "SIGNATURE_INVALID"],
      [() => t.signQuery({ signer: stranger }), "NO_QUOTA"],
      [() => t.signQuery({ signer: stranger, consumer: t.consumer.address }), "SIGNATURE_INVALID"],
    ];
    for (const [query, code] of cases) {
      tally.add();
      expectRefusal(await postQuery(JSON.stringify(await query())), [code as never]);
    }
    await expectUnharmed();
  });

  it("refuses bodies over the limit, inputs over the maximum length and deeply nested JSON", async () => {
    const valid = await t.signQuery();
    const cases: [string | Buffer, string][] = [
      [JSON.stringify({ ...valid, input: "x".repeat(1024 * 1024) }), "PAYLOAD_TOO_LARGE"],
      [Buffer.alloc(2 * 1024 * 1024, 0x7b), "PAYLOAD_TOO_LARGE"],
      [JSON.stringify({ ...valid, input: "x".repeat(257) }), "VALIDATION_FAILED"],
      [`{"input":${"[".repeat(200_000)}${"]".repeat(200_000)}}`, "VALIDATION_FAILED"],
      [`${"[".repeat(400_000)}${"]".repeat(400_000)}`, "VALIDATION_FAILED"],
      [`{"a":${'{"__proto__":'.repeat(20_000)}1${"}".repeat(20_000)}}`, "VALIDATION_FAILED"],
      ["", "VALIDATION_FAILED"],
      ["null", "VALIDATION_FAILED"],
    ];
    for (const [body, code] of cases) {
      tally.add();
      expectRefusal(await postQuery(body), [code as never]);
    }
    await expectUnharmed();
  });

  it("refuses every content type but JSON, and JSON in a charset it does not read", async () => {
    const valid = JSON.stringify(await t.signQuery());
    const types = [
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/octet-stream",
      "application/xml",
      "application/json; charset=utf-16",
      "application/json; charset=latin1",
      "application/jsonx",
      "json",
      "*/*",
      "",
      ";;;",
      "application/json; boundary=",
    ];
    for (const type of types) {
      tally.add();
      const response = await postQuery(
        type === "application/json; charset=latin1" ? Buffer.from(valid, "latin1") : valid,
        type,
      );
      // A charset parameter Fastify ignores still carries the same (ASCII) JSON: it may be served.
      if (response.status === 200) {
        expect(type).toMatch(/^application\/json/);
        before = await state();
        continue;
      }
      expectRefusal(response);
    }
    tally.add();
    expectRefusal(await client.send({ method: "POST", path: "/v1/queries", body: valid }));
    await expectUnharmed();
  });
});

const documented = documentedCodes();

/** A refusal on the OpenAI-compatible routes: 4xx, OpenAI's error body, a documented code with this status. */
function expectOpenAiRefusal(response: HostileResponse, codes?: readonly ErrorCode[]) {
  const summary = `${response.status} ${response.body.subarray(0, 300).toString("utf8")}`;
  expect(response.status, summary).toBeGreaterThanOrEqual(400);
  expect(response.status, summary).toBeLessThan(500);
  expect(response.headers["content-type"], summary).toMatch(/^application\/json/);
  const { error } = openAiErrorSchema.parse(JSON.parse(response.body.toString("utf8")));
  expect(documented.get(error.code), summary).toBe(response.status);
  if (codes) expect(codes, summary).toContain(error.code);
  return error;
}

describe("POST /v1/chat/completions under hostile input", () => {
  const chat = (content = "is this a scam?") => ({
    model: "keyword-test-model-v1",
    messages: [{ role: "user", content }],
  });
  const postChat = async (body: Buffer | string, headers: Record<string, string>) =>
    client.send({
      method: "POST",
      path: "/v1/chat/completions",
      headers: { "content-type": "application/json", ...headers },
      body,
    });

  it("refuses malformed JSON, wrong types, missing and extra fields, truncated text and invalid UTF-8", async () => {
    const valid = chat() as unknown as Record<string, never>;
    const headers = await t.signChat(valid);
    await fc.assert(
      fc.asyncProperty(hostileJsonBodies(valid), async (body) => {
        tally.add();
        expectOpenAiRefusal(await postChat(body.bytes, headers));
      }),
      { numRuns: runs },
    );
    await expectUnharmed();
  });

  it("refuses a signature with any byte changed, and malformed or missing signed headers", async () => {
    const body = chat();
    const headers = await t.signChat(body);
    await fc.assert(
      fc.asyncProperty(signatureByteMutation, async (mutation) => {
        tally.add();
        const signature = mutateSignatureByte(headers["x-query-signature"] as Hex, mutation);
        expectOpenAiRefusal(await postChat(JSON.stringify(body), { ...headers, "x-query-signature": signature }), [
          "SIGNATURE_INVALID",
        ]);
      }),
      { numRuns: runs },
    );
    for (const [name, value] of [
      ["x-query-total", "-1"],
      ["x-query-total", "1".repeat(30)],
      ["x-query-max-fee", "0x10"],
      ["x-query-key", "0x1234"],
      ["x-query-deadline", "9".repeat(17)],
      ["x-query-consumer", "0x1234"],
      ["x-query-signature", "0x"],
      ["x-query-epoch", ""],
    ] as const) {
      tally.add();
      expectOpenAiRefusal(await postChat(JSON.stringify(body), { ...headers, [name]: value }), ["VALIDATION_FAILED"]);
    }
    const { "x-query-epoch": _epoch, ...partial } = headers;
    tally.add();
    expectOpenAiRefusal(await postChat(JSON.stringify(body), partial), ["VALIDATION_FAILED"]);
    tally.add();
    // A bearer token that is no DAO AI key authenticates nothing.
    expectOpenAiRefusal(await postChat(JSON.stringify(body), { authorization: "Bearer sk-stolen" }), [
      "AUTHENTICATION_REQUIRED",
      "KEY_UNKNOWN",
    ]);
    await expectUnharmed();
  });

  it("answers hostile JSON schemas in response_format quickly, or refuses them, and never runs them on anything but its own answer", async () => {
    const schemas: unknown[] = [
      { type: "object", properties: { label: { type: "string", pattern: "^(a+)+$" } } },
      { $ref: "https://attacker.example/schema.json" },
      { $ref: "#" },
      { type: "object", properties: { label: { $ref: "#/properties/label" } } },
      { allOf: Array.from({ length: 2_000 }, () => ({ type: "object" })) },
      { type: "object", patternProperties: { "(x+x+)+y": { type: "string" } } },
      { not: {} },
      { type: 7 },
      { $schema: "http://json-schema.org/draft-04/schema#", type: "object" },
    ];
    for (const schema of schemas) {
      tally.add();
      const body = { ...chat(), response_format: { type: "json_schema", json_schema: { name: "s", schema } } };
      const started = performance.now();
      const response = await postChat(JSON.stringify(body), await t.signChat(body));
      expect(performance.now() - started).toBeLessThan(5_000);
      if (response.status === 200) {
        before = await state();
        continue;
      }
      expectOpenAiRefusal(response, ["RESPONSE_FORMAT_UNSUPPORTED"]);
    }
    await expectUnharmed();
  });

  it("answers any method on the OpenAI routes, with any suffix or query string, without a 5xx", async () => {
    const methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND"];
    const routes = ["/v1/models", "/v1/models/keyword-test-model-v1", "/v1/chat/completions"];
    const suffix = fc.oneof(
      fc.constantFrom("", "/", "//", "/..", "/%2e%2e/", "?a=1&a=2", "?__proto__[x]=1", "%00", "/%ff"),
      fc.string({ maxLength: 50 }).map((s) => encodeURIComponent(s)),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...methods), fc.constantFrom(...routes), suffix, async (method, route, tail) => {
        tally.add();
        const response = await client.send({ method, path: `${route}${tail}` });
        expect(response.status).toBeLessThan(500);
        if (response.status < 400) return;
        // The OpenAI routes answer in OpenAI's shape; a path outside them, in problem+json.
        if (/^application\/problem\+json/.test(String(response.headers["content-type"]))) expectRefusal(response);
        else expectOpenAiRefusal(response);
      }),
      { numRuns: runs },
    );
    await expectUnharmed();
  });

  it("refuses bodies over the limit, messages over the maximum length and deeply nested JSON", async () => {
    const cases: [object | string, string][] = [
      [chat("x".repeat(1024 * 1024)), "PAYLOAD_TOO_LARGE"],
      [chat("x".repeat(257)), "VALIDATION_FAILED"],
      [
        { ...chat(), messages: Array.from({ length: 300 }, () => ({ role: "user", content: "x" })) },
        "VALIDATION_FAILED",
      ],
      [`{"model":${"[".repeat(200_000)}${"]".repeat(200_000)}}`, "VALIDATION_FAILED"],
      [`{"a":${'{"__proto__":'.repeat(20_000)}1${"}".repeat(20_000)}}`, "VALIDATION_FAILED"],
      ["null", "VALIDATION_FAILED"],
    ];
    for (const [body, code] of cases) {
      tally.add();
      const headers = typeof body === "string" ? {} : await t.signChat(body);
      expectOpenAiRefusal(await postChat(typeof body === "string" ? body : JSON.stringify(body), headers), [
        code as never,
      ]);
    }
    await expectUnharmed();
  });
});

describe("GET /v1/quota/:consumer under hostile input", () => {
  it("answers any path parameter with usage or a documented refusal, never a 5xx", async () => {
    const parameter = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.string({ unit: "binary", maxLength: 100 }),
      fc.constantFrom(
        "..",
        "../../etc/passwd",
        "..%2f..%2fetc%2fpasswd",
        "%2e%2e%2f",
        "0x" + "a".repeat(40),
        "0x" + "A".repeat(40),
        "0X" + "a".repeat(40),
        "0x" + "a".repeat(39),
        "0x" + "a".repeat(41),
        "0x" + "a".repeat(10_000),
        t.consumer.address.toLowerCase(),
        t.consumer.address.toUpperCase(),
      ),
    );
    await fc.assert(
      fc.asyncProperty(parameter, fc.boolean(), async (value, encode) => {
        tally.add();
        const segment = encode ? percentEncode(value, /[^A-Za-z0-9]/) : percentEncode(value, /[^\x21-\x7e]/);
        expectNoServerError(await client.get(`/v1/quota/${segment}`));
      }),
      { numRuns: runs },
    );
    await expectUnharmed();
  });
});

describe("every worker route, with odd methods, paths, query strings and bodies", () => {
  const routes = [
    "/healthz",
    "/readyz",
    "/metrics",
    "/docs/errors.md",
    "/v1/policy",
    "/v1/eip712",
    "/v1/queries",
    "/v1/quota/0x0000000000000000000000000000000000000001",
    "/v1/submissions",
    "/v1/submissions/0x" + "ab".repeat(32),
    "/v1/submissions/0x" + "ab".repeat(32) + "/data",
  ];
  const methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND", "SEARCH", "TRACE", "PURGE"];

  it("answers any method on any route, with any suffix, query string or body, without a 5xx", async () => {
    const suffix = fc.oneof(
      fc.constant(""),
      fc.constantFrom(
        "/",
        "//",
        "/..",
        "/../..",
        "/%2e%2e/",
        "?",
        "?a=1&a=2",
        "?__proto__[x]=1",
        "#x",
        ";x",
        "%00",
        "/%ff",
      ),
      fc.string({ maxLength: 50 }).map((s) => encodeURIComponent(s)),
    );
    const body = fc.option(
      fc.oneof(
        fc.string({ maxLength: 200 }),
        fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
      ),
      {
        nil: undefined,
      },
    );
    const type = fc.constantFrom("application/json", "text/plain", "application/octet-stream", "application/x-unknown");
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...methods),
        fc.constantFrom(...routes),
        suffix,
        body,
        type,
        async (method, route, tail, payload, contentType) => {
          tally.add();
          const response = await client.send({
            method,
            path: `${route}${tail}`,
            ...(payload === undefined ? {} : { body: payload, headers: { "content-type": contentType } }),
          });
          if (method === "HEAD") expect(response.status).toBeLessThan(500);
          else expectNoServerError(response);
        },
      ),
      { numRuns: runs },
    );
    await expectUnharmed();
  });
});

/** Percent-encodes the UTF-8 bytes of `value` that match `unsafe` (lone surrogates become U+FFFD). */
function percentEncode(value: string, unsafe: RegExp): string {
  return [...Buffer.from(value, "utf8")]
    .map((byte) => {
      const char = String.fromCharCode(byte);
      return byte < 0x80 && !unsafe.test(char) ? char : `%${byte.toString(16).padStart(2, "0").toUpperCase()}`;
    })
    .join("");
}
