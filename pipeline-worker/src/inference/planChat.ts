import { Ajv, type ValidateFunction } from "ajv";
import { keccak256, stringToBytes, type Hex } from "viem";
import type { ChatCompletionRequest } from "../api/openAiWire.ts";
import { WorkerError } from "../internal/WorkerError.ts";
import type { ChatDelta, ChatMessage, Model, ModelAnswer, TokenUsage } from "../model/Model.ts";
import { answerHashOf } from "./queryReceipt.ts";

/** What a chat completion produced, once the model is done. */
export type ChatOutcome = {
  content: string;
  finishReason: NonNullable<ChatDelta["finishReason"]>;
  usage?: TokenUsage | undefined;
};

export type ChatPlan = {
  /**
   * Runs the model (the query service calls it once the query is counted), handing each piece of
   * content to `onDelta` as it comes, and returns the whole with the hash its receipt binds.
   */
  invoke(context: {
    model: Model;
    signal: AbortSignal;
    classify: (input: string, signal: AbortSignal) => Promise<ModelAnswer>;
    onDelta?: (content: string) => void;
  }): Promise<{ result: ChatOutcome; answerHash: Hex }>;
};

export type PlanChatParameters = {
  request: ChatCompletionRequest;
  model: Model;
  /** The longest text accepted, in characters: the classified message, or all the messages together. */
  maxInputLength: number;
};

const SCORES = ["low", "medium", "high"] as const;

/**
 * Checks a chat-completions request against the model that will answer it, before anything is
 * counted, and says how to run it. An external model (the governed gateway) gets the messages
 * and options as they are; its receipt binds keccak256 of the UTF-8 text it answered. The embedded
 * classifier reads the last message, which must be the user's, and answers its label and coarse
 * score: as text (`scam (confidence: high)`), or as JSON `{"label","score"}` when `response_format`
 * asks for JSON; its receipt binds the same answer hash as `POST /v1/queries`. A JSON schema the
 * classifier's answers cannot all satisfy is refused up front with RESPONSE_FORMAT_UNSUPPORTED.
 */
export function planChat(parameters: PlanChatParameters): ChatPlan {
  const { request, model } = parameters;
  const messages: ChatMessage[] = request.messages.map((message) => ({
    role: message.role,
    content: typeof message.content === "string" ? message.content : message.content.map((p) => p.text).join("\n"),
  }));
  const tooLong = (what: string) =>
    new WorkerError("VALIDATION_FAILED", `${what} is longer than ${parameters.maxInputLength} characters.`, {
      extra: { field: "messages", limit: parameters.maxInputLength },
    });

  if (model.chat !== undefined) {
    const chat = model.chat.bind(model);
    if (messages.reduce((length, message) => length + message.content.length, 0) > parameters.maxInputLength) {
      throw tooLong("The text of the messages");
    }
    const options = {
      temperature: request.temperature,
      top_p: request.top_p,
      max_tokens: request.max_tokens,
      max_completion_tokens: request.max_completion_tokens,
      stop: request.stop,
      seed: request.seed,
      presence_penalty: request.presence_penalty,
      frequency_penalty: request.frequency_penalty,
      response_format: request.response_format,
    };
    return {
      async invoke({ signal, onDelta }) {
        let content = "";
        let finishReason: ChatOutcome["finishReason"] = "stop";
        let usage: TokenUsage | undefined;
        for await (const delta of chat(messages, { ...options, signal })) {
          if (delta.content) {
            content += delta.content;
            onDelta?.(delta.content);
          }
          if (delta.finishReason) finishReason = delta.finishReason;
          if (delta.usage) usage = delta.usage;
        }
        return { result: { content, finishReason, usage }, answerHash: keccak256(stringToBytes(content)) };
      },
    };
  }

  const last = messages.at(-1)!;
  if (last.role !== "user") {
    throw new WorkerError("VALIDATION_FAILED", "The last message must be the user's: it is the text classified.", {
      extra: { field: "messages" },
    });
  }
  if (last.content.length === 0) {
    throw new WorkerError("VALIDATION_FAILED", "The user's message is empty.", { extra: { field: "messages" } });
  }
  if (last.content.length > parameters.maxInputLength) throw tooLong("The user's message");
  const format = request.response_format?.type ?? "text";
  const conforms =
    request.response_format?.type === "json_schema" ? schemaCheck(request.response_format, model) : undefined;
  const render = (answer: ModelAnswer) => {
    if (format === "text") return `${answer.label} (confidence: ${answer.score})`;
    if (conforms !== undefined && !conforms(answer)) {
      throw new WorkerError("RESPONSE_FORMAT_UNSUPPORTED", "The model's answer does not satisfy the JSON schema.");
    }
    return JSON.stringify({ label: answer.label, score: answer.score });
  };
  return {
    async invoke({ signal, classify, onDelta }) {
      const answer = await classify(last.content, signal);
      const content = render(answer);
      onDelta?.(content);
      return { result: { content, finishReason: "stop" }, answerHash: answerHashOf(answer) };
    },
  };
}

/**
 * Compiles the request's JSON schema and, when the model's labels are known, checks that every
 * answer the classifier can give satisfies it, so a request is refused before it is counted
 * rather than after. The schema is the consumer's; Ajv compiles it to code, but only data the
 * worker makes (a label and a score) is ever checked against it.
 */
function schemaCheck(
  format: Extract<ChatCompletionRequest["response_format"], { type: "json_schema" }>,
  model: Model,
): (answer: ModelAnswer) => boolean {
  const unsupported = (why: string) =>
    new WorkerError("RESPONSE_FORMAT_UNSUPPORTED", `The JSON schema "${format.json_schema.name}" ${why}.`, {
      extra: { field: "response_format" },
    });
  let validate: ValidateFunction;
  try {
    validate = new Ajv({ strict: false, allErrors: false }).compile(format.json_schema.schema ?? {});
  } catch (cause) {
    throw unsupported(`is not a valid JSON schema (${(cause as Error).message})`);
  }
  const conforms = (answer: ModelAnswer) => {
    try {
      return validate({ label: answer.label, score: answer.score }) as boolean;
    } catch (cause) {
      // A schema that refers to itself without end (`{"$ref": "#"}`) exhausts the stack instead.
      throw unsupported(`cannot be evaluated (${(cause as Error).message})`);
    }
  };
  for (const label of model.labels ?? []) {
    for (const score of SCORES) {
      if (!conforms({ label, score })) {
        throw unsupported(
          `does not accept every answer of this classifier: {"label": ${JSON.stringify(label)}, "score": "${score}"} fails it (${validate.errors?.[0]?.message ?? "invalid"})`,
        );
      }
    }
  }
  return conforms;
}
