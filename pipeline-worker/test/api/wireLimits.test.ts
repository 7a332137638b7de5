import { maxUint256, maxUint64 } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWorkerSystem, type WorkerSystem } from "../helpers/createWorkerSystem.ts";
import { createSubmitter, type Submitter } from "../helpers/submissions.ts";

// Each numeric field of the API has the limit of the type it is signed as (wireScalars.ts): a
// submission's size is a uint64, its nonce a uint256; a key's cap a uint64, its fee a uint256. A
// value over the limit is refused with VALIDATION_FAILED naming the field, before any check runs.

let s: WorkerSystem;
let submitter: Submitter;
beforeAll(async () => {
  s = await createWorkerSystem();
  submitter = createSubmitter(s);
});
afterAll(async () => {
  await s?.close();
});

const post = async (path: string, body: unknown) => {
  const response = await fetch(`${s.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, problem: (await response.json()) as Record<string, unknown> };
};

describe("the limits of the API's numeric fields", () => {
  it("refuses a submission whose size does not fit a uint64 or whose nonce does not fit a uint256", async () => {
    const { envelope } = await submitter.prepare();
    const cases: [string, Record<string, unknown>][] = [
      ["size", { size: `${maxUint64}0` }],
      ["nonce", { nonce: `${maxUint256}0` }],
      // As many digits as the largest uint256, and larger than it.
      ["nonce", { nonce: "9".repeat(78) }],
      ["size", { size: "007" }],
    ];
    for (const [field, change] of cases) {
      const { status, problem } = await post("/v1/submissions", { ...envelope, ...change });
      expect({ status, code: problem.code, field: problem.field }).toEqual({
        status: 400,
        code: "VALIDATION_FAILED",
        field,
      });
    }
    // In range for its type but beyond what the worker takes: the size's own refusal.
    const tooLarge = await post("/v1/submissions", { ...envelope, size: maxUint64.toString() });
    expect({ status: tooLarge.status, code: tooLarge.problem.code }).toEqual({
      status: 413,
      code: "PAYLOAD_TOO_LARGE",
    });
    // The largest nonce a uint256 holds is a nonce like any other: the signature decides.
    const largestNonce = await post("/v1/submissions", { ...envelope, nonce: maxUint256.toString() });
    expect({ status: largestNonce.status, code: largestNonce.problem.code }).toEqual({
      status: 401,
      code: "SIGNATURE_INVALID",
    });
    expect((await submitter.post(envelope)).status).toBe(201);
  });

  it("refuses a key grant whose cap does not fit a uint64 or whose fee does not fit a uint256", async () => {
    const grant = {
      consumer: s.accounts.consumer.account.address,
      key: s.accounts.attester.account.address,
      worker: s.accounts.worker.account.address,
      maxQueries: "10",
      maxFeePerQuery: "0",
      expiresAt: "4102444800",
    };
    const signature = `0x${"11".repeat(65)}`;
    for (const [field, change] of [
      ["grant.maxQueries", { maxQueries: `${maxUint64}0` }],
      ["grant.maxFeePerQuery", { maxFeePerQuery: `${maxUint256}0` }],
      ["grant.maxFeePerQuery", { maxFeePerQuery: "9".repeat(78) }],
      ["grant.maxQueries", { maxQueries: "9".repeat(20) }],
      ["grant.expiresAt", { expiresAt: `${maxUint64}0` }],
    ] as const) {
      const { status, problem } = await post("/v1/keys", { grant: { ...grant, ...change }, signature });
      expect({ status, code: problem.code, field: problem.field }).toEqual({
        status: 400,
        code: "VALIDATION_FAILED",
        field,
      });
    }
  });

  it("refuses a signed query whose epoch or total does not fit a uint64 or whose fee does not fit a uint256", async () => {
    const query = {
      consumer: s.accounts.consumer.account.address,
      epoch: "0",
      total: "1",
      maxFeePerQuery: "0",
      deadline: 4102444800,
      signature: `0x${"11".repeat(65)}`,
      input: "Is this a scam?",
    };
    for (const [field, change] of [
      ["epoch", { epoch: "9".repeat(20) }],
      ["total", { total: `${maxUint64}0` }],
      ["maxFeePerQuery", { maxFeePerQuery: "9".repeat(78) }],
    ] as const) {
      const { status, problem } = await post("/v1/queries", { ...query, ...change });
      expect({ status, code: problem.code, field: problem.field }).toEqual({
        status: 400,
        code: "VALIDATION_FAILED",
        field,
      });
    }
  });
});
