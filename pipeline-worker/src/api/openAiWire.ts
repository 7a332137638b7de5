import canonicalize from "canonicalize";
import { keccak256, stringToBytes, zeroAddress, type Address, type Hex } from "viem";
import { z } from "zod";
import { usageDomain, usageTypes } from "../chain/typedData.ts";
import { WorkerError } from "../internal/WorkerError.ts";
import { queryReceiptSchema, queryUsageSchema } from "./consumerWire.ts";
import { bytes32Schema } from "./wireScalars.ts";

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
    z.object({ kind: z.literal("weights"), weightsHash: bytes32Schema }),
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

/**
 * The headers that carry a signed Usage voucher on the OpenAI-compatible routes: the fields of
 * `POST /v1/queries`' signed body (consumerWire.ts), the input being chatInputHash of the request.
 * `x-query-key` is sent only for a session key's voucher.
 */
export const QUERY_HEADERS = {
  consumer: "x-query-consumer",
  key: "x-query-key",
  epoch: "x-query-epoch",
  total: "x-query-total",
  maxFeePerQuery: "x-query-max-fee",
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
  /** The session key that signs (`signer` is then that key), when not the consumer's own wallet. */
  key?: Address;
  /** The worker that will serve it (GET /v1/quota's `worker`): the voucher is good at it alone. */
  worker: Address;
  /** The current epoch (GET /v1/quota's `epoch`, or `PolicyRegistry.currentEpoch()`). */
  epoch: bigint;
  /** A total not yet served in the lane: GET /v1/quota's `nextTotal`, or your own counter. */
  total: bigint;
  /** The most the worker may charge per query, in wei: at least the policy's fee (GET /v1/quota's `feePerQuery`). */
  maxFeePerQuery: bigint;
  /** Unix seconds after which the worker refuses it. */
  deadline: bigint;
  chainId: number;
  usageSettlement: Address;
};

/**
 * Signs a chat request as a Usage voucher of UsageSettlement's EIP-712 domain (the very voucher the
 * worker later settles on chain, when it is the lane's latest) and returns the headers that carry
 * it, for the `openai` client's per-request `headers` option (or `defaultHeaders`, for a client
 * used for one request).
 */
export async function signChatRequest(parameters: SignChatRequestParameters): Promise<Record<string, string>> {
  const message = {
    consumer: parameters.consumer,
    key: parameters.key ?? zeroAddress,
    worker: parameters.worker,
    epoch: parameters.epoch,
    total: parameters.total,
    maxFeePerQuery: parameters.maxFeePerQuery,
    inputHash: chatInputHash(parameters.body),
    deadline: parameters.deadline,
  };
  const signature = await parameters.signer.signTypedData({
    domain: usageDomain(parameters.chainId, parameters.usageSettlement),
    types: usageTypes,
    primaryType: "Usage",
    message,
  } as never);
  return {
    [QUERY_HEADERS.consumer]: parameters.consumer,
    ...(parameters.key === undefined ? {} : { [QUERY_HEADERS.key]: parameters.key }),
    [QUERY_HEADERS.epoch]: parameters.epoch.toString(),
    [QUERY_HEADERS.total]: parameters.total.toString(),
    [QUERY_HEADERS.maxFeePerQuery]: parameters.maxFeePerQuery.toString(),
    [QUERY_HEADERS.deadline]: parameters.deadline.toString(),
    [QUERY_HEADERS.signature]: signature,
  };
}
