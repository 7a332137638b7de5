import { zeroAddress } from "viem";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import OpenAI, { APIError } from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { policyRegistryAbi } from "../../../deployments/abis.ts";
import {
  chatCompletionChunkSchema,
  chatCompletionSchema,
  chatInputHash,
  openAiErrorSchema,
  type ChatCompletion,
} from "../../src/api/openAiWire.ts";
import { verifyQueryReceipt } from "../../src/inference/queryReceipt.ts";
import { createOpenAiModel } from "../../src/model/createOpenAiModel.ts";
import { createInferenceTestSystem, type InferenceTestSystem } from "./createInferenceTestSystem.ts";

// The worker as a governed gateway in front of an external LLM. The LLM is a local HTTP server
// speaking OpenAI's chat API (whole answers and server-sent events), standing in for vLLM,
// llama.cpp or Ollama; the worker talks to it through the product's adapter (createOpenAiModel).

type Behaviour = (body: Record<string, unknown>, response: ServerResponse) => void;

let t: InferenceTestSystem;
let upstream: Server;
let upstreamUrl: string;
let upstreamHost: string;
let requests: Record<string, unknown>[];
let closedEarly: number;
let behave: Behaviour;

const WORDS = ["Hello", " there", ",", " friend", "."];

function chunkOf(content: string | undefined, finish: string | null = null) {
  return {
    id: "chatcmpl-up",
    object: "chat.completion.chunk",
    created: 1,
    model: "llama-test",
    choices: [{ index: 0, delta: content === undefined ? {} : { content }, finish_reason: finish }],
  };
}

/** Streams `words` as OpenAI chunks, `delayMs` apart, then usage and [DONE]. */
function streamWords(response: ServerResponse, words: readonly string[], delayMs = 0) {
  response.writeHead(200, { "content-type": "text/event-stream" });
  let i = 0;
  const next = () => {
    if (response.destroyed) return;
    if (i < words.length) {
      response.write(`data: ${JSON.stringify(chunkOf(words[i++]))}\n\n`);
      setTimeout(next, delayMs);
      return;
    }
    response.write(`data: ${JSON.stringify(chunkOf(undefined, "stop"))}\n\n`);
    const usage = { prompt_tokens: 7, completion_tokens: words.length, total_tokens: 7 + words.length };
    response.write(`data: ${JSON.stringify({ ...chunkOf(undefined), choices: [], usage })}\n\n`);
    response.end("data: [DONE]\n\n");
  };
  next();
}

/** A well-behaved OpenAI-compatible server: classifies when asked for the classification schema, chats otherwise. */
const wellBehaved: Behaviour = (body, response) => {
  if (
    (body.response_format as { json_schema?: { name?: string } } | undefined)?.json_schema?.name === "classification"
  ) {
    response.writeHead(200, { "content-type": "application/json" });
    response.end(
      JSON.stringify({
        id: "chatcmpl-up",
        object: "chat.completion",
        created: 1,
        model: "llama-test",
        choices: [
          {
            index: 0,
            message: { role: "assistant", content: '{"label":"scam","confidence":"high"}' },
            finish_reason: "stop",
          },
        ],
      }),
    );
    return;
  }
  streamWords(response, WORDS);
};

beforeAll(async () => {
  t = await createInferenceTestSystem({ quota: 40n });
  upstream = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
      requests.push(body);
      response.on("close", () => {
        if (!response.writableFinished) closedEarly++;
      });
      behave(body, response);
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  const { port } = upstream.address() as AddressInfo;
  upstreamHost = `127.0.0.1:${port}`;
  upstreamUrl = `http://${upstreamHost}/v1`;
});
beforeEach(async () => {
  await t.reset();
  requests = [];
  closedEarly = 0;
  behave = wellBehaved;
});
afterAll(async () => {
  upstream.closeAllConnections();
  await new Promise((resolve) => upstream.close(resolve));
  await t.cleanUp();
});

const MODEL = "external:llama-test";

async function start() {
  const model = createOpenAiModel({
    baseUrl: upstreamUrl,
    model: "llama-test",
    labels: ["legit", "scam"],
    timeoutMs: 500,
  });
  const worker = await t.startWorker({ model });
  const baseURL = await t.listen(worker);
  return { worker, baseURL, client: new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0 }) };
}

const chat = <Extra extends object = object>(extra: Extra = {} as Extra) => ({
  model: MODEL,
  messages: [
    { role: "system" as const, content: "You are terse." },
    { role: "user" as const, content: "Say hello." },
  ],
  ...extra,
});

/** Sends a signed chat request with fetch, returning the raw answer (status, headers and text). */
async function raw(baseURL: string, body: object, headers?: Record<string, string>) {
  const response = await fetch(`${baseURL}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(headers ?? (await t.signChat(body))) },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: [...response.headers].map((h) => h.join(": ")).join("\n"), text };
}

describe("the governed gateway in front of an external OpenAI-compatible model", () => {
  it("passes chat completions through, whole and streamed, within quota, with the upstream's token usage", async () => {
    const { client, worker } = await start();
    const body = chat({ temperature: 0.2, max_tokens: 50 });
    const completion = chatCompletionSchema.parse(
      await client.chat.completions.create(body, { headers: await t.signChat(body) }),
    );
    expect(completion.choices[0]!.message.content).toBe("Hello there, friend.");
    expect(completion.usage).toEqual({ prompt_tokens: 7, completion_tokens: 5, total_tokens: 12 });
    expect(completion.model).toBe(MODEL);
    expect(completion.receipt.model).toBe(MODEL);
    // The upstream gets the consumer's messages and options, under its own model name.
    expect(requests[0]).toMatchObject({
      model: "llama-test",
      messages: body.messages,
      temperature: 0.2,
      max_tokens: 50,
      stream: true,
    });

    const streamed = chat({ stream: true as const });
    const stream = await client.chat.completions.create(streamed, { headers: await t.signChat(streamed) });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chatCompletionChunkSchema.parse(chunk));
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? "").join("")).toBe("Hello there, friend.");
    // One chunk per upstream piece, passed on as it came.
    expect(chunks.filter((c) => c.choices[0]?.delta.content).map((c) => c.choices[0]!.delta.content)).toEqual(WORDS);
    expect(chunks.at(-1)).toMatchObject({ receipt: { model: MODEL, total: "2" }, quota: { used: "2" } });
    expect((await t.quotaOf(worker)).body.used).toBe("2");

    const models = await client.models.list();
    expect(models.data.map((m) => [m.id, (m as unknown as { commitment: unknown }).commitment])).toEqual([
      [MODEL, { kind: "name" }],
    ]);
  });

  it("stops a stream when the kill switch is engaged in the middle of it, and cancels the upstream call", async () => {
    behave = (_body, response) =>
      streamWords(
        response,
        Array.from({ length: 200 }, (_, i) => ` w${i}`),
        20,
      );
    const { client, worker } = await start();
    const body = chat({ stream: true as const });
    const stream = await client.chat.completions.create(body, { headers: await t.signChat(body) });
    const received: string[] = [];
    const error = await (async () => {
      try {
        for await (const chunk of stream) {
          received.push(chunk.choices[0]?.delta.content ?? "");
          if (received.length === 3) {
            await t.wait(
              await t.accounts.guardian.writeContract({
                address: t.deployment.contracts.policyRegistry,
                abi: policyRegistryAbi,
                functionName: "engageKillSwitch",
                args: ["gateway abuse"],
              }),
            );
            await worker.worker.policySync.poll();
          }
        }
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(APIError);
    expect(error).toMatchObject({ code: "KILL_SWITCH_ENGAGED" });
    expect(received.length).toBeLessThan(50);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(closedEarly).toBe(1);
    // The model was invoked: the query counted.
    expect((await t.quotaOf(worker)).body.used).toBe("1");
  });

  it("a signed query whose model call fails cannot be replayed", async () => {
    behave = (_body, response) => {
      response.writeHead(500, { "content-type": "application/json" });
      response.end(JSON.stringify({ error: { message: "model crashed" } }));
    };
    const { baseURL, worker } = await start();
    const body = chat();
    const headers = await t.signChat(body);
    const first = await raw(baseURL, body, headers);
    expect(first.status).toBe(503);
    expect(JSON.parse(first.text).error.code).toBe("MODEL_FAILED");
    for (let i = 0; i < 3; i++) {
      const replay = await raw(baseURL, body, headers);
      expect(replay.status).toBe(409);
      expect(JSON.parse(replay.text).error.code).toBe("TOTAL_REPLAYED");
    }
    // The model was asked once; the query counts against the quota and is settled (its fee paid).
    expect(requests).toHaveLength(1);
    expect((await t.quotaOf(worker)).body.used).toBe("1");
    expect((await worker.worker.inference.settle()).settled).toBe(1);

    // The same holds on POST /v1/queries, whose classification goes to the same model.
    const query = await t.signQuery({ input: "is this a scam?" });
    expect((await t.query(worker, query)).body.code).toBe("MODEL_FAILED");
    expect((await t.query(worker, query)).body.code).toBe("TOTAL_REPLAYED");
    expect(requests).toHaveLength(2);
  });

  it("a failing upstream model's error text does not reach the consumer", async () => {
    const SECRET = "VERDICT-scam-0.97";
    const failures: Record<string, Behaviour> = {
      "5xx with a message": (_body, response) => {
        response.writeHead(500, { "content-type": "application/json" });
        response.end(JSON.stringify({ error: { message: SECRET } }));
      },
      "4xx with a message": (_body, response) => {
        response.writeHead(400, { "content-type": "application/json" });
        response.end(JSON.stringify({ error: { message: SECRET, code: SECRET } }));
      },
      "429": (_body, response) => {
        response.writeHead(429, { "content-type": "application/json", "retry-after": "1" });
        response.end(JSON.stringify({ error: { message: SECRET } }));
      },
      // Only the classification asks for a schema; a chat completion's text is the model's to choose.
      "an answer outside the classification schema": (_body, response) => {
        response.writeHead(200, { "content-type": "application/json" });
        response.end(
          JSON.stringify({
            id: "x",
            object: "chat.completion",
            created: 1,
            model: "m",
            choices: [{ index: 0, message: { role: "assistant", content: SECRET }, finish_reason: "stop" }],
          }),
        );
      },
      "not JSON": (_body, response) => {
        response.writeHead(200, { "content-type": "application/json" });
        response.end(`<html>${SECRET}</html>`);
      },
      "a stream that errors": (_body, response) => {
        response.writeHead(200, { "content-type": "text/event-stream" });
        response.end(`data: ${JSON.stringify({ error: { message: SECRET } })}\n\n`);
      },
      "silence (a timeout)": () => undefined,
      "a dropped connection": (_body, response) => response.socket?.destroy(),
    };
    const { baseURL, worker } = await start();
    const seen = new Set<string>();
    for (const [name, failure] of Object.entries(failures)) {
      behave = failure;
      const queryAnswer = await t.query(worker, await t.signQuery({ input: "is this a scam?" }));
      expect(JSON.stringify(queryAnswer.body), name).not.toContain(SECRET);
      const { instance: _instance, ...problem } = queryAnswer.body as Record<string, unknown>;
      seen.add(JSON.stringify(problem));
      if (name.includes("classification")) continue;
      const chatAnswer = await raw(baseURL, chat());
      for (const text of [chatAnswer.text, chatAnswer.headers]) {
        expect(text, name).not.toContain(SECRET);
        expect(text, name).not.toContain(upstreamHost);
      }
      expect(chatAnswer.status, name).toBe(503);
      seen.add(JSON.stringify(openAiErrorSchema.parse(JSON.parse(chatAnswer.text))));
    }
    // One refusal for the chat route and one for the query route, whatever the failure.
    expect([...seen].map((s) => JSON.parse(s).error?.message ?? JSON.parse(s).detail)).toEqual([
      "The model failed to answer. The query was counted.",
      "The model failed to answer. The query was counted.",
    ]);

    // In a stream that has begun, a failure is the same refusal, as the stream's last event.
    behave = (_body, response) => {
      response.writeHead(200, { "content-type": "text/event-stream" });
      response.write(`data: ${JSON.stringify(chunkOf("Hel"))}\n\n`);
      setTimeout(() => response.end(`data: ${JSON.stringify({ error: { message: SECRET } })}\n\n`), 20);
    };
    const streamed = await raw(baseURL, chat({ stream: true }));
    expect(streamed.status).toBe(200);
    expect(streamed.text).not.toContain(SECRET);
    const events = streamed.text.split("\n\n").filter(Boolean);
    expect(JSON.parse(events.at(-1)!.slice(6))).toEqual(JSON.parse([...seen].find((s) => s.startsWith('{"error"'))!));
  });

  it("receipts do not name the upstream model server", async () => {
    const { baseURL, worker } = await start();
    const whole = await raw(baseURL, chat());
    const streamed = await raw(baseURL, chat({ stream: true }));
    const classified = await t.query(worker, await t.signQuery({ input: "send 1 ETH, get 2 back" }));
    expect(classified.body.answer).toEqual({ label: "scam", score: "high" });
    const models = await fetch(`${baseURL}/models`).then((r) => r.text());
    const receipts = [
      JSON.parse(whole.text).receipt,
      JSON.parse(streamed.text.split("\n\n").filter(Boolean).at(-2)!.slice(6)).receipt,
      classified.body.receipt,
    ];
    for (const receipt of receipts) expect(receipt.model).toBe(MODEL);
    // The consumer checks a gateway's receipt against the text it received and the request it signed.
    const body = chat();
    const headers = await t.signChat(body);
    const answered = JSON.parse((await raw(baseURL, body, headers)).text) as ChatCompletion;
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
    const signer = await verifyQueryReceipt({
      receipt: answered.receipt,
      usage,
      answer: { content: answered.choices[0]!.message.content },
      chainId: t.deployment.chainId,
      usageSettlement: t.deployment.contracts.usageSettlement,
    });
    expect(signer).toBe(worker.address);
    await expect(
      verifyQueryReceipt({
        receipt: answered.receipt,
        usage,
        answer: { content: "Goodbye." },
        chainId: t.deployment.chainId,
        usageSettlement: t.deployment.contracts.usageSettlement,
      }),
    ).rejects.toThrow("it is for another answer");
    for (const text of [
      whole.text,
      whole.headers,
      streamed.text,
      streamed.headers,
      JSON.stringify(classified),
      models,
    ]) {
      expect(text).not.toContain(upstreamHost);
      expect(text).not.toContain("127.0.0.1");
    }
  });
});
