import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createOpenAiModel } from "../../src/model/createOpenAiModel.ts";

// A small in-process HTTP server speaking the OpenAI chat-completions API (POST
// /v1/chat/completions), standing in for vLLM, llama.cpp or Ollama: it records each request and
// answers what the test tells it to, so the adapter is tested over real HTTP.

type Reply = { status: number; body: unknown; delayMs?: number };

let server: Server;
let baseUrl: string;
let requests: { url: string; headers: IncomingMessage["headers"]; body: Record<string, unknown> }[] = [];
let reply: (body: Record<string, unknown>) => Reply;

const completion = (content: string): Reply => ({
  status: 200,
  body: {
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 1,
    model: "test-model",
    choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
    usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
  },
});

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
      requests.push({ url: request.url ?? "", headers: request.headers, body });
      const { status, body: answer, delayMs } = reply(body);
      setTimeout(() => {
        if (response.destroyed) return;
        response.writeHead(status, { "content-type": "application/json" });
        response.end(typeof answer === "string" ? answer : JSON.stringify(answer));
      }, delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  requests = [];
  reply = () => completion('{"label": "scam", "confidence": "high"}');
});

const model = (overrides: Partial<Parameters<typeof createOpenAiModel>[0]> = {}) =>
  createOpenAiModel({ baseUrl, model: "test-model", apiKey: "sk-test", labels: ["legit", "scam"], ...overrides });

describe("createOpenAiModel (against an in-process OpenAI-compatible server)", () => {
  it("asks the chat-completions endpoint deterministically and returns the label and confidence", async () => {
    const answer = await model().classify("Send 1 ETH, get 2 back");
    expect(answer).toEqual({ label: "scam", score: "high" });
    expect(requests).toHaveLength(1);
    const [request] = requests;
    expect(request!.url).toBe("/v1/chat/completions");
    expect(request!.headers.authorization).toBe("Bearer sk-test");
    expect(request!.body).toMatchObject({
      model: "test-model",
      temperature: 0,
      // Structured output: the server constrains the answer to the labels, nothing is parsed from prose.
      response_format: {
        type: "json_schema",
        json_schema: {
          name: "classification",
          strict: true,
          schema: {
            type: "object",
            properties: {
              label: { type: "string", enum: ["legit", "scam"] },
              confidence: { type: "string", enum: ["low", "medium", "high"] },
            },
            required: ["label", "confidence"],
            additionalProperties: false,
          },
        },
      },
    });
    expect(request!.body.stream).toBeUndefined();
    const messages = request!.body.messages as { role: string; content: string }[];
    expect(messages.map((m) => m.role)).toEqual(["system", "user"]);
    expect(messages[0]!.content).toContain('"legit", "scam"');
    expect(model().id).toBe("external:test-model");
    expect(messages[1]!.content).toBe("Send 1 ETH, get 2 back");
  });

  it("parses the structured answer as JSON, with no tolerance for prose or code fences around it", async () => {
    reply = () => completion('```json\n{"label": "legit", "confidence": "low"}\n```');
    await expect(model().classify("hi")).rejects.toMatchObject({ code: "MODEL_ANSWER_INVALID" });
    reply = () => completion('{"label": "legit", "confidence": "very"}');
    await expect(model().classify("hi")).rejects.toMatchObject({ code: "MODEL_ANSWER_INVALID" });
  });

  it("refuses an answer that is not one of the labels, or not JSON (MODEL_ANSWER_INVALID)", async () => {
    reply = () => completion('{"label": "phishing", "confidence": "high"}');
    await expect(model().classify("hi")).rejects.toMatchObject({ code: "MODEL_ANSWER_INVALID" });
    reply = () => completion("It is probably a scam.");
    await expect(model().classify("hi")).rejects.toMatchObject({ code: "MODEL_ANSWER_INVALID" });
    reply = () => ({ status: 200, body: "<html>gateway</html>" });
    await expect(model().classify("hi")).rejects.toMatchObject({ code: "MODEL_ANSWER_INVALID" });
  });

  it("says MODEL_UNAVAILABLE, retryable, on 5xx, 429, a timeout or no server; not retryable on 401", async () => {
    reply = () => ({ status: 503, body: { error: { message: "overloaded" } } });
    await expect(model().classify("hi")).rejects.toMatchObject({ code: "MODEL_UNAVAILABLE", retryable: true });
    reply = () => ({ status: 429, body: { error: { message: "slow down" } } });
    await expect(model().classify("hi")).rejects.toMatchObject({ code: "MODEL_UNAVAILABLE", retryable: true });
    reply = () => ({ ...completion('{"label":"scam"}'), delayMs: 500 });
    await expect(model({ timeoutMs: 50 }).classify("hi")).rejects.toMatchObject({
      code: "MODEL_UNAVAILABLE",
      shortMessage: "The model server did not answer within 50 ms.",
    });
    await expect(model({ baseUrl: "http://127.0.0.1:1/v1" }).classify("hi")).rejects.toMatchObject({
      code: "MODEL_UNAVAILABLE",
      retryable: true,
    });
    reply = () => ({ status: 401, body: { error: { message: "bad key" } } });
    await expect(model().classify("hi")).rejects.toMatchObject({ code: "MODEL_UNAVAILABLE", retryable: false });
  });

  it("stops waiting when the caller aborts", async () => {
    reply = () => ({ ...completion('{"label":"scam"}'), delayMs: 500 });
    const controller = new AbortController();
    const pending = model().classify("hi", { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toThrow();
  });
});
