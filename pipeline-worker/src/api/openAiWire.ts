import canonicalize from "canonicalize";
import { keccak256, stringToBytes, type Address, type Hex } from "viem";
import { z } from "zod";
import { queryDomain, queryTypes } from "../chain/typedData.ts";
import { WorkerError } from "../internal/WorkerError.ts";

/**
 * The wire shapes of the worker's OpenAI-compatible API (`GET /v1/models`, `POST
 * /v1/chat/completions`), declared once for the worker, its tests and its clients
 * (`@dao-ai/pipeline-worker/openai`), and how a consumer signs a chat request.
 *
 * The subset of OpenAI's chat API the worker accepts is listed field by field: a field the worker
 * would silently ignore (tools, logprobs, several choices) is refused with VALIDATION_FAILED
 * instead, so a client never believes it got something it did not.
 */

const textPart = z.strictObject({ type: z.literal("text"), text: z.string() });
const content = z.union([z.string(), z.array(textPart).min(1)]);
const message = <R extends string>(role: R) =>
  z.strictObject({ role: z.literal(role), content, name: z.string().max(64).optional() });

export const chatMessageSchema = z.discriminatedUnion("role", [
  message("system"),
  message("developer"),
  message("user"),
  message("assistant"),
]);

export const responseFormatSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("text") }),
  z.strictObject({ type: z.literal("json_object") }),
  z.strictObject({
    type: z.literal("json_schema"),
    json_schema: z.strictObject({
      name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, { error: "must be 1 to 64 letters, digits, _ or -" }),
      description: z.string().optional(),
      schema: z.record(z.string(), z.unknown()).optional(),
      strict: z.boolean().nullish(),
    }),
  }),
]);

export const chatCompletionRequestSchema = z.strictObject({
  model: z.string().min(1).max(256),
  messages: z.array(chatMessageSchema).min(1).max(256),
  stream: z.boolean().nullish(),
  stream_options: z.strictObject({ include_usage: z.boolean().optional() }).nullish(),
  response_format: responseFormatSchema.optional(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  max_tokens: z.int().positive().nullish(),
  max_completion_tokens: z.int().positive().nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).nullish(),
  seed: z.int().nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  n: z.literal(1, { error: "only one choice is served (n: 1)" }).nullish(),
  user: z.string().max(256).optional(),
});
export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;

const decimal = z.string().regex(/^(0|[1-9][0-9]{0,19})$/);
const hex = (pattern: RegExp, what: string) =>
  z
    .string()
    .regex(pattern, { error: `must be ${what}` })
    .transform((value) => value as Hex);
const hex32 = hex(/^0x[0-9a-fA-F]{64}$/, "0x and 64 hex digits");

/** A consumer's usage in the current epoch after the query, as this worker counts it. */
export const queryUsageSchema = z.object({
  epoch: decimal,
  epochEndsAt: z.int(),
  quota: decimal,
  used: decimal,
  remaining: decimal,
  share: z.object({ workerIndex: z.int(), workerCount: z.int(), queries: decimal }),
});

/**
 * JSON Schema of a wire shape, for Fastify's response serialiser (which lists what may leave the
 * worker): the shapes are declared here once, in zod, and the routes' schemas derive from them.
 */
export function responseJsonSchema(schema: z.ZodType) {
  const { $schema: _draft, ...json } = z.toJSONSchema(schema, { target: "draft-7", io: "input" });
  return json;
}

/** The worker's signed receipt (pipeline-worker/src/inference/queryReceipt.ts says what it binds). */
export const queryReceiptSchema = z.object({
  version: z.literal(1),
  worker: hex(/^0x[0-9a-fA-F]{40}$/, "an address").transform((value) => value as Address),
  queryDigest: hex32,
  answerHash: hex32,
  model: z.string(),
  modelHash: hex32,
  epoch: decimal,
  used: decimal,
  quota: decimal,
  digest: hex32,
  signature: hex(/^0x[0-9a-fA-F]*$/, "0x and hex digits"),
});

const tokenUsageSchema = z.object({
  prompt_tokens: z.int(),
  completion_tokens: z.int(),
  total_tokens: z.int(),
});

const finishReason = z.enum(["stop", "length", "content_filter"]);

/** A whole completion. `receipt` and `quota` are the worker's additions to OpenAI's shape. */
export const chatCompletionSchema = z.object({
  id: z.string(),
  object: z.literal("chat.completion"),
  created: z.int(),
  model: z.string(),
  choices: z
    .array(
      z.object({
        index: z.literal(0),
        message: z.object({ role: z.literal("assistant"), content: z.string(), refusal: z.null() }),
        finish_reason: finishReason,
        logprobs: z.null(),
      }),
    )
    .length(1),
  usage: tokenUsageSchema.optional(),
  receipt: queryReceiptSchema,
  quota: queryUsageSchema,
});
export type ChatCompletion = z.infer<typeof chatCompletionSchema>;

/**
 * A chunk of a streamed completion (`data: <chunk>` events, then `data: [DONE]`). The last chunk
 * before `[DONE]` has no choices and carries the receipt and the quota (and the token usage, when
 * the model reports it), as OpenAI's usage chunk does.
 */
export const chatCompletionChunkSchema = z.object({
  id: z.string(),
  object: z.literal("chat.completion.chunk"),
  created: z.int(),
  model: z.string(),
  choices: z.array(
    z.object({
      index: z.literal(0),
      delta: z.object({ role: z.literal("assistant").optional(), content: z.string().optional() }),
      finish_reason: finishReason.nullable(),
      logprobs: z.null(),
    }),
  ),
  usage: tokenUsageSchema.nullish(),
  receipt: queryReceiptSchema.optional(),
  quota: queryUsageSchema.optional(),
});
export type ChatCompletionChunk = z.infer<typeof chatCompletionChunkSchema>;

/**
 * A model the worker serves. `commitment` says what the id stands for: the SHA-256 of the
 * weights a training run committed on chain (`weights`: the embedded model), or only a name
 * (`name`: a model behind an external server, whose weights nobody outside it can check).
 */
export const modelSchema = z.object({
  id: z.string(),
  object: z.literal("model"),
  created: z.int(),
  owned_by: z.string(),
  commitment: z.discriminatedUnion("kind", [
    z.object({ kind: z.literal("weights"), weightsHash: hex32 }),
    z.object({ kind: z.literal("name") }),
  ]),
});
export const modelListSchema = z.object({ object: z.literal("list"), data: z.array(modelSchema) });
export type ModelList = z.infer<typeof modelListSchema>;

/**
 * OpenAI's error body, as every refusal on these routes is answered. `code` is the worker's stable
 * code (pipeline-worker/docs/errors.md), `type` OpenAI's class of it; `retryable`, `hints` and
 * `doc_url` are the worker's additions, and the refusal's own members (e.g. `resetsAt`) follow.
 */
export const openAiErrorSchema = z.object({
  error: z.looseObject({
    message: z.string(),
    type: z.string(),
    param: z.string().nullable(),
    code: z.string(),
    retryable: z.boolean(),
    doc_url: z.string(),
    hints: z.array(z.string()).optional(),
  }),
});
export type OpenAiError = z.infer<typeof openAiErrorSchema>;

/** The headers that carry a signed query on the OpenAI-compatible routes. */
export const QUERY_HEADERS = {
  consumer: "x-query-consumer",
  nonce: "x-query-nonce",
  epoch: "x-query-epoch",
  deadline: "x-query-deadline",
  signature: "x-query-signature",
} as const;

/**
 * The `inputHash` a consumer signs for a chat request: keccak256 of the request body's canonical
 * JSON (RFC 8785, the JSON Canonicalization Scheme). The signature thus binds everything asked
 * (model, messages, options, streaming), whatever the client's key order or whitespace.
 */
export function chatInputHash(body: unknown): Hex {
  const canonical = canonicalize(body);
  if (canonical === undefined) {
    throw new WorkerError("VALIDATION_FAILED", "The request body has no JSON form.", {
      hints: ["Send the chat request as a JSON object, the same one that was signed."],
    });
  }
  return keccak256(stringToBytes(canonical));
}

export type SignChatRequestParameters = {
  /** The request body exactly as it will be sent (e.g. the `openai` client's `create` argument). */
  body: object;
  /** Signs EIP-712 typed data: a viem account (`privateKeyToAccount`) or wallet client. */
  signer: { signTypedData: (typedData: never) => Promise<Hex>; address?: Address };
  consumer: Address;
  /** Unused before by this consumer; uint64. */
  nonce: bigint;
  /** The current epoch (`PolicyRegistry.currentEpoch()`, or the worker's `GET /v1/quota/:consumer`). */
  epoch: bigint;
  /** Unix seconds after which the worker refuses it. */
  deadline: bigint;
  chainId: number;
  usageSettlement: Address;
};

/**
 * Signs a chat request as a Query of UsageSettlement's EIP-712 domain (the same signature the
 * worker later settles on chain) and returns the headers that carry it, for the `openai` client's
 * per-request `headers` option (or `defaultHeaders`, for a client used for one request).
 */
export async function signChatRequest(parameters: SignChatRequestParameters): Promise<Record<string, string>> {
  const message = {
    consumer: parameters.consumer,
    inputHash: chatInputHash(parameters.body),
    nonce: parameters.nonce,
    epoch: parameters.epoch,
    deadline: parameters.deadline,
  };
  const signature = await parameters.signer.signTypedData({
    domain: queryDomain(parameters.chainId, parameters.usageSettlement),
    types: queryTypes,
    primaryType: "Query",
    message,
  } as never);
  return {
    [QUERY_HEADERS.consumer]: parameters.consumer,
    [QUERY_HEADERS.nonce]: parameters.nonce.toString(),
    [QUERY_HEADERS.epoch]: parameters.epoch.toString(),
    [QUERY_HEADERS.deadline]: parameters.deadline.toString(),
    [QUERY_HEADERS.signature]: signature,
  };
}
