import { randomUUID } from "node:crypto";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Hex } from "viem";
import type { QueryService } from "../../inference/createQueryService.ts";
import { planChat, type ChatOutcome } from "../../inference/planChat.ts";
import { renderProblem } from "../../internal/renderProblem.ts";
import { isWorkerError, WorkerError } from "../../internal/WorkerError.ts";
import type { Model } from "../../model/Model.ts";
import { authenticateQuery, signedQueryHeaders, type QueryAuthenticator } from "../authenticateQuery.ts";
import { toWorkerError } from "../createApiServer.ts";
import {
  chatCompletionRequestSchema,
  chatInputHash,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatCompletionRequest,
  type ModelList,
  type OpenAiError,
} from "../openAiWire.ts";
import { ERROR_DOCS_PATH } from "./registerHealthRoutes.ts";

export type RegisterOpenAiRoutesParameters = {
  queries: QueryService;
  /** The longest text accepted, in characters (see planChat). */
  maxInputLength: number;
  /** How a request proves whose query it is; the first that recognises it decides. Default: signed headers. */
  authenticators?: readonly QueryAuthenticator[];
  /** Milliseconds since the epoch. */
  now?: () => number;
};

/**
 * OpenAI's API, served under the same policy as `POST /v1/queries` (one query service: kill
 * switch, quota, fee, durable counting, receipts), so that any OpenAI client can call the DAO's
 * model: `GET /v1/models` and `GET /v1/models/:id` list the committed model; `POST
 * /v1/chat/completions` answers, whole or streamed as server-sent events in OpenAI's chunk format
 * ending in `data: [DONE]`. A completion carries the worker's receipt and the consumer's quota
 * (`receipt`, `quota`; in a stream, on the last chunk). Every refusal is OpenAI's error body,
 * `{error: {message, type, param, code}}`, with the worker's stable code, the same as the
 * problem+json of the worker's own routes; in a stream that has begun, it is an `error` event.
 */
export function registerOpenAiRoutes(app: FastifyInstance, parameters: RegisterOpenAiRoutesParameters): void {
  const { queries } = parameters;
  const now = parameters.now ?? Date.now;
  const authenticators = parameters.authenticators ?? [signedQueryHeaders];
  const startedAt = Math.floor(now() / 1000);

  const modelEntry = (model: Model): ModelList["data"][number] => ({
    id: model.id,
    object: "model",
    created: startedAt,
    owned_by: "dao-ai",
    // The embedded model's id is the SHA-256 of its weights, as its training run committed it.
    commitment: /^0x[0-9a-f]{64}$/.test(model.id)
      ? { kind: "weights", weightsHash: model.id as Hex }
      : { kind: "name" },
  });
  const served = (): Model[] => (queries.model.unconfigured ? [] : [queries.model]);
  const notFound = (id: string) =>
    new WorkerError("MODEL_NOT_FOUND", `This worker does not serve a model ${JSON.stringify(id)}.`, {
      hints: [`Use an id that GET /v1/models lists${served().length > 0 ? `: ${served()[0]!.id}` : ""}.`],
      extra: { field: "model" },
    });

  void app.register(async (scope) => {
    scope.setErrorHandler((error: FastifyError, request, reply) => {
      const { status, headers, body } = openAiErrorOf(error, request, now);
      request.log.info({ code: body.error.code, detail: body.error.message }, "request refused");
      void reply.status(status).headers(headers).send(body);
    });

    scope.get("/v1/models", async (): Promise<ModelList> => ({ object: "list", data: served().map(modelEntry) }));

    scope.get<{ Params: { id: string } }>("/v1/models/:id", async (request) => {
      const model = served().find((m) => m.id === request.params.id);
      if (model === undefined) throw notFound(request.params.id);
      return modelEntry(model);
    });

    scope.post("/v1/chat/completions", async (request, reply) => {
      const body = parseRequest(request.body);
      const { model } = queries;
      if (!model.unconfigured && body.model !== model.id) throw notFound(body.model);
      const plan = planChat({ request: body, model, maxInputLength: parameters.maxInputLength });
      const query = authenticateQuery(authenticators, {
        headers: request.headers,
        inputHash: chatInputHash(request.body),
      });
      const id = `chatcmpl-${randomUUID()}`;
      const created = Math.floor(now() / 1000);
      // The client going away stops the model (an upstream stream is cancelled); the query stays counted.
      const gone = new AbortController();
      reply.raw.on("close", () => {
        if (!reply.raw.writableFinished) gone.abort(new WorkerError("REQUEST_TIMEOUT", "The client went away."));
      });

      if (!body.stream) {
        const { result, usage, receipt } = await queries.serve(query, ({ signal }) =>
          plan.invoke({ model, signal: AbortSignal.any([signal, gone.signal]), classify: queries.classify }),
        );
        const completion: ChatCompletion = {
          id,
          object: "chat.completion",
          created,
          model: model.id,
          choices: [
            {
              index: 0,
              message: { role: "assistant", content: result.content, refusal: null },
              finish_reason: result.finishReason,
              logprobs: null,
            },
          ],
          ...(result.usage ? { usage: result.usage } : {}),
          receipt,
          quota: usage,
        };
        return completion;
      }

      const chunk = (
        rest: Pick<ChatCompletionChunk, "choices"> & Partial<ChatCompletionChunk>,
      ): ChatCompletionChunk => ({
        id,
        object: "chat.completion.chunk",
        created,
        model: model.id,
        ...rest,
      });
      const stream = createEventStream(reply);
      try {
        const outcome = await queries.serve(query, ({ signal }) =>
          plan.invoke({
            model,
            signal: AbortSignal.any([signal, gone.signal]),
            classify: queries.classify,
            onDelta(content) {
              if (!stream.started) {
                stream.send(
                  chunk({
                    choices: [
                      { index: 0, delta: { role: "assistant", content: "" }, finish_reason: null, logprobs: null },
                    ],
                  }),
                );
              }
              stream.send(chunk({ choices: [{ index: 0, delta: { content }, finish_reason: null, logprobs: null }] }));
            },
          }),
        );
        const result: ChatOutcome = outcome.result;
        stream.send(chunk({ choices: [{ index: 0, delta: {}, finish_reason: result.finishReason, logprobs: null }] }));
        stream.send(
          chunk({ choices: [], usage: result.usage ?? null, receipt: outcome.receipt, quota: outcome.usage }),
        );
        stream.end("[DONE]");
      } catch (error) {
        if (!stream.started) throw error;
        const { body: refusal } = openAiErrorOf(error, request, now);
        request.log.info({ code: refusal.error.code }, "stream refused");
        stream.end(refusal);
      }
      return reply;
    });
  });
}

function parseRequest(body: unknown): ChatCompletionRequest {
  const parsed = chatCompletionRequestSchema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.join(".");
  throw new WorkerError(
    "VALIDATION_FAILED",
    `The request is invalid: ${field === "" ? "" : `${field}: `}${issue.message}.`,
    {
      hints: ["The worker's README lists the chat-completions fields it accepts (no tools, one choice)."],
      extra: field === "" ? {} : { field },
    },
  );
}

/** Server-sent events on the raw response; the HTTP answer starts with the first event. */
function createEventStream(reply: FastifyReply) {
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    void reply.hijack();
    reply.raw.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      connection: "keep-alive",
      // Proxies (nginx) pass the events on as they come instead of buffering the answer.
      "x-accel-buffering": "no",
    });
  };
  return {
    get started() {
      return started;
    },
    send(data: object) {
      start();
      reply.raw.write(`data: ${JSON.stringify(data)}\n\n`);
    },
    end(data: object | "[DONE]") {
      start();
      reply.raw.end(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`);
    },
  };
}

const OPENAI_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  402: "insufficient_quota",
  403: "permission_error",
  404: "not_found_error",
  408: "timeout_error",
  409: "conflict_error",
  413: "invalid_request_error",
  422: "invalid_request_error",
  429: "rate_limit_error",
};

/**
 * A refusal in OpenAI's error shape, built from the same problem the worker's own routes answer
 * (same code, text and extension members). `x-should-retry` tells OpenAI's clients whether to
 * retry by themselves: only a refusal that left the query unspent and may pass later.
 */
function openAiErrorOf(
  error: unknown,
  request: FastifyRequest,
  now: () => number,
): { status: number; headers: Record<string, string>; body: OpenAiError } {
  const workerError = error instanceof WorkerError ? error : toWorkerError(error as FastifyError);
  const problem = renderProblem(workerError, { docsUrl: ERROR_DOCS_PATH, instance: `urn:request:${request.id}` });
  const { type, title: _title, status, detail, code, retryable, hints, instance: _instance, field, ...extra } = problem;
  const headers: Record<string, string> = { "x-should-retry": String(retryable) };
  if (isWorkerError(workerError, "QUOTA_EXHAUSTED") && typeof workerError.extra.resetsAt === "number") {
    headers["retry-after"] = String(Math.max(0, workerError.extra.resetsAt - Math.floor(now() / 1000)));
  }
  return {
    status,
    headers,
    body: {
      error: {
        message: detail,
        type: OPENAI_TYPES[status] ?? (status >= 500 ? "server_error" : "invalid_request_error"),
        param: typeof field === "string" ? field : null,
        code,
        retryable,
        doc_url: type,
        ...(hints ? { hints: [...hints] } : {}),
        ...extra,
      },
    },
  };
}
