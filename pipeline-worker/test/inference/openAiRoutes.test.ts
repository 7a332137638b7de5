import { zeroAddress } from "viem";
import { spawn, spawnSync } from "node:child_process";
import OpenAI, { APIError } from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { policyRegistryAbi } from "../../../deployments/abis.ts";
import {
  chatCompletionChunkSchema,
  chatCompletionSchema,
  chatInputHash,
  modelListSchema,
  openAiErrorSchema,
  type ChatCompletion,
  type ChatCompletionChunk,
} from "../../src/api/openAiWire.ts";
import { verifyQueryReceipt } from "../../src/inference/queryReceipt.ts";
import { createInferenceTestSystem, devAccount, QUOTA, type InferenceTestSystem } from "./createInferenceTestSystem.ts";

// The worker's OpenAI-compatible routes as applications call them: through the official `openai`
// npm client (and curl), over HTTP, against a worker on a real local chain.

let t: InferenceTestSystem;

beforeAll(async () => {
  t = await createInferenceTestSystem();
});
beforeEach(async () => {
  await t.reset();
});
afterAll(async () => {
  await t.cleanUp();
});

const MODEL = "keyword-test-model-v1";
const SCAM = "URGENT: verify your wallet seed phrase to claim your prize";

async function start() {
  const worker = await t.startWorker();
  const baseURL = await t.listen(worker);
  // The API key is not used: each request is signed, in headers the client sends with it.
  const client = new OpenAI({ baseURL, apiKey: "unused" });
  return { worker, baseURL, client };
}

const ask = <Extra extends object = object>(content: string, extra: Extra = {} as Extra) => ({
  model: MODEL,
  messages: [{ role: "user" as const, content }],
  ...extra,
});

/** The client's APIError for a refused call, with the worker's error body flattened onto it. */
async function refusalOf(promise: Promise<unknown>) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(APIError);
  const { status, code, param, type, headers } = error as APIError;
  const body = openAiErrorSchema.parse({ error: (error as APIError).error }).error;
  return { status, code, param, type, headers, message: body.message, body };
}

/** Runs curl without blocking this process, which serves the worker curl talks to. */
function runCurl(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn("curl", args);
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (data: Buffer) => (stdout += data.toString("utf8")));
  child.stderr.on("data", (data: Buffer) => (stderr += data.toString("utf8")));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

describe("the OpenAI-compatible API, through the openai client", () => {
  it("lists the committed model (models.list, models.retrieve), and refuses a model it does not serve", async () => {
    const { client } = await start();
    const list = await client.models.list();
    expect(list.data).toEqual([
      { id: MODEL, object: "model", created: expect.any(Number), owned_by: "dao-ai", commitment: { kind: "name" } },
    ]);
    expect(modelListSchema.parse({ object: "list", data: list.data }).data).toHaveLength(1);
    expect((await client.models.retrieve(MODEL)).id).toBe(MODEL);
    const missing = await refusalOf(client.models.retrieve("gpt-4o"));
    expect(missing).toMatchObject({ status: 404, code: "MODEL_NOT_FOUND" });

    const body = ask("hello", { model: "gpt-4o" });
    const refused = await refusalOf(client.chat.completions.create(body, { headers: await t.signChat(body) }));
    expect(refused).toMatchObject({
      status: 404,
      code: "MODEL_NOT_FOUND",
      param: "model",
      message: 'This worker does not serve a model "gpt-4o".',
      body: expect.objectContaining({ hints: [`Use an id that GET /v1/models lists: ${MODEL}.`] }),
    });
  });

  it("answers chat.completions.create within quota with the label and a coarse score, a receipt the consumer can check, and the quota", async () => {
    const { worker, client } = await start();
    const body = ask(SCAM);
    const headers = await t.signChat(body);
    const completion = await client.chat.completions.create(body, { headers });
    const parsed: ChatCompletion = chatCompletionSchema.parse(completion);
    expect(parsed.choices[0]!.message.content).toBe("scam (confidence: high)");
    expect(parsed.choices[0]!.finish_reason).toBe("stop");
    expect(parsed.model).toBe(MODEL);
    expect(parsed.quota).toMatchObject({ used: "1", remaining: (QUOTA - 1n).toString() });
    const usage = {
      consumer: t.consumer.address,
      key: zeroAddress,
      worker: worker.address,
      epoch: BigInt(headers["x-query-epoch"]!),
      total: BigInt(headers["x-query-total"]!),
      maxFeePerQuery: BigInt(headers["x-query-max-fee"]!),
      inputHash: chatInputHash(body),
      deadline: BigInt(headers["x-query-deadline"]!),
    };
    // The receipt binds the same answer as POST /v1/queries would, and the request as signed.
    const signer = await verifyQueryReceipt({
      receipt: parsed.receipt,
      usage,
      answer: { label: "scam", score: "high" },
      chainId: t.deployment.chainId,
      usageSettlement: t.deployment.contracts.usageSettlement,
      client: t.publicClient,
      policyRegistry: t.deployment.contracts.policyRegistry,
    });
    expect(signer).toBe(worker.address);
    // The query is settled on chain like any other: the signature over the chat request is the lane's voucher.
    expect((await worker.worker.inference.settle()).settled).toBe(1);
  });

  it("streams the answer (stream: true) as OpenAI chunks ending with the receipt and the quota", async () => {
    const { client } = await start();
    const body = ask("lunch at noon?", { stream: true as const });
    const stream = await client.chat.completions.create(body, { headers: await t.signChat(body) });
    const chunks: ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chatCompletionChunkSchema.parse(chunk));
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
    expect(text).toBe("legit (confidence: low)");
    expect(chunks[0]!.choices[0]!.delta.role).toBe("assistant");
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe("stop");
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.receipt).toMatchObject({ model: MODEL, total: "1" });
    expect(last.quota).toMatchObject({ used: "1" });
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
  });

  it("honours response_format: JSON matching the schema, or a refusal that counts nothing when the schema cannot be satisfied", async () => {
    const { client, worker } = await start();
    const schema = {
      type: "object",
      properties: { label: { type: "string", enum: ["legit", "scam"] }, score: { type: "string" } },
      required: ["label", "score"],
      additionalProperties: false,
    };
    const body = ask(SCAM, {
      response_format: { type: "json_schema" as const, json_schema: { name: "verdict", strict: true, schema } },
    });
    const completion = await client.chat.completions.create(body, { headers: await t.signChat(body) });
    expect(JSON.parse(completion.choices[0]!.message.content!)).toEqual({ label: "scam", score: "high" });

    const jsonObject = ask("hi there", { response_format: { type: "json_object" as const } });
    const answered = await client.chat.completions.create(jsonObject, { headers: await t.signChat(jsonObject) });
    expect(JSON.parse(answered.choices[0]!.message.content!)).toEqual({ label: "legit", score: "low" });

    const unsatisfiable = ask(SCAM, {
      response_format: {
        type: "json_schema" as const,
        json_schema: {
          name: "sentiment",
          schema: { type: "object", properties: { sentiment: { type: "string" } }, required: ["sentiment"] },
        },
      },
    });
    const refused = await refusalOf(
      client.chat.completions.create(unsatisfiable, { headers: await t.signChat(unsatisfiable) }),
    );
    expect(refused).toMatchObject({ status: 400, code: "RESPONSE_FORMAT_UNSUPPORTED", param: "response_format" });
    expect(refused.message).toContain(`The JSON schema "sentiment" does not accept every answer of this classifier`);
    expect((await t.quotaOf(worker)).body.used).toBe("2");
  });

  it("refuses beyond the quota with the client's APIError carrying QUOTA_EXHAUSTED, streaming or not, without retrying", async () => {
    const { client, worker } = await start();
    for (let i = 0n; i < QUOTA; i++) {
      const body = ask(`message ${i}`);
      await client.chat.completions.create(body, { headers: await t.signChat(body) });
    }
    const body = ask("one more");
    const refused = await refusalOf(client.chat.completions.create(body, { headers: await t.signChat(body) }));
    expect(refused).toMatchObject({ status: 429, code: "QUOTA_EXHAUSTED", type: "rate_limit_error", param: null });
    expect(refused.message).toBe(
      `Total ${QUOTA + 1n} would take ${t.consumer.address} past its ${QUOTA} queries of epoch ${await t.currentEpoch()}.`,
    );
    expect(refused.headers?.get("x-should-retry")).toBe("false");
    expect(Number(refused.headers?.get("retry-after"))).toBeGreaterThan(0);
    expect(refused.body).toMatchObject({ retryable: false, quota: "5", doc_url: "/docs/errors.md#quota_exhausted" });

    const streamed = ask("streamed", { stream: true as const });
    const refusedStream = await refusalOf(
      client.chat.completions.create(streamed, { headers: await t.signChat(streamed) }),
    );
    expect(refusedStream).toMatchObject({ status: 429, code: "QUOTA_EXHAUSTED" });
    expect((await t.quotaOf(worker)).body.used).toBe(QUOTA.toString());
  });

  it("refuses under the kill switch with KILL_SWITCH_ENGAGED, streaming or not", async () => {
    const { client, worker } = await start();
    await t.wait(
      await t.accounts.guardian.writeContract({
        address: t.deployment.contracts.policyRegistry,
        abi: policyRegistryAbi,
        functionName: "engageKillSwitch",
        args: ["poisoned model"],
      }),
    );
    await worker.worker.policySync.poll();
    for (const stream of [false, true]) {
      const body = ask(SCAM, { stream });
      const refused = await refusalOf(client.chat.completions.create(body, { headers: await t.signChat(body) }));
      expect(refused).toMatchObject({
        status: 503,
        code: "KILL_SWITCH_ENGAGED",
        type: "server_error",
        message: "The kill switch is engaged: poisoned model",
      });
    }
    expect((await t.quotaOf(worker)).body.used).toBe("0");
  });

  it("refuses requests that are unsigned, signed over another body or by another key, replayed, or outside the accepted fields", async () => {
    const { client, worker } = await start();
    const body = ask("hello");
    const unsigned = await refusalOf(client.chat.completions.create(body));
    // The client's own API key is no DAO AI key: it authenticates nothing.
    expect(unsigned).toMatchObject({ status: 401 });
    expect(["AUTHENTICATION_REQUIRED", "KEY_UNKNOWN"]).toContain(unsigned.code);
    const headers = await t.signChat(body);
    const tampered = await refusalOf(client.chat.completions.create(ask("hello!"), { headers }));
    expect(tampered).toMatchObject({ status: 401, code: "SIGNATURE_INVALID" });
    const otherKey = await t.signChat(body, { signer: devAccount(9) });
    const stranger = await refusalOf(
      client.chat.completions.create(body, { headers: { ...otherKey, "x-query-consumer": t.consumer.address } }),
    );
    expect(stranger).toMatchObject({ code: "SIGNATURE_INVALID" });
    const partial = await refusalOf(
      client.chat.completions.create(body, { headers: { ...headers, "x-query-signature": null } }),
    );
    expect(partial).toMatchObject({ status: 400, code: "VALIDATION_FAILED", param: "x-query-signature" });
    const tools = ask("hello", { tools: [{ type: "function" as const, function: { name: "f" } }] });
    const withTools = await refusalOf(client.chat.completions.create(tools, { headers: await t.signChat(tools) }));
    expect(withTools).toMatchObject({ status: 400, code: "VALIDATION_FAILED", type: "invalid_request_error" });
    const system = { model: MODEL, messages: [{ role: "system" as const, content: "be nice" }] };
    const noUser = await refusalOf(client.chat.completions.create(system, { headers: await t.signChat(system) }));
    expect(noUser).toMatchObject({ code: "VALIDATION_FAILED", param: "messages" });

    // None of them counted; the well-signed request is served once, then refused as a replay.
    await client.chat.completions.create(body, { headers });
    const replayed = await refusalOf(client.chat.completions.create(body, { headers }));
    expect(replayed).toMatchObject({ status: 409, code: "TOTAL_REPLAYED" });
    expect((await t.quotaOf(worker)).body.used).toBe("1");
  });
});

const curl = spawnSync("curl", ["--version"]).status === 0;

describe("the OpenAI-compatible API, through curl", () => {
  it.skipIf(!curl)("streams server-sent events to curl -N, ending in data: [DONE]", async () => {
    const { baseURL } = await start();
    const body = ask(SCAM, { stream: true });
    const headers = await t.signChat(body);
    const args = ["-sS", "-N", "-i", `${baseURL}/chat/completions`, "-H", "content-type: application/json"];
    for (const [name, value] of Object.entries(headers)) args.push("-H", `${name}: ${value}`);
    args.push("--data-binary", JSON.stringify(body));
    const result = await runCurl(args);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    const [head, out] = [
      result.stdout.slice(0, result.stdout.indexOf("\r\n\r\n")),
      result.stdout.slice(result.stdout.indexOf("\r\n\r\n") + 4),
    ];
    expect(head).toMatch(/^HTTP\/1.1 200/);
    expect(head.toLowerCase()).toContain("content-type: text/event-stream");
    const events = out.split("\n\n").filter(Boolean);
    expect(events.every((event) => event.startsWith("data: "))).toBe(true);
    expect(events.at(-1)).toBe("data: [DONE]");
    const chunks = events.slice(0, -1).map((event) => chatCompletionChunkSchema.parse(JSON.parse(event.slice(6))));
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? "").join("")).toBe("scam (confidence: high)");
    expect(chunks.at(-1)!.receipt?.total).toBe("1");
  });

  it.skipIf(!curl)("answers curl's refusals in OpenAI's error shape", async () => {
    const { baseURL } = await start();
    const result = await runCurl([
      "-sS",
      `${baseURL}/chat/completions`,
      "-H",
      "content-type: application/json",
      "--data-binary",
      JSON.stringify(ask("hi")),
      "-w",
      "\n%{http_code}",
    ]);
    const [json, status] = result.stdout.split("\n");
    expect(status).toBe("401");
    expect(openAiErrorSchema.parse(JSON.parse(json!)).error).toMatchObject({
      code: "AUTHENTICATION_REQUIRED",
      type: "authentication_error",
      message: "The request carries no signed Usage voucher and no API key.",
    });
  });
});
