import type { Hex } from "viem";

/**
 * What the worker asks of a model, whichever runs behind it (the embedded classifier, or an
 * external server through the OpenAI-compatible adapter). Answers carry no more than the use
 * needs: a label and a coarse score, never raw probabilities or logits, so that stealing the
 * model by querying it (Tramèr et al., USENIX Security 2016) needs many more queries than any
 * quota allows.
 */
export type ModelAnswer = {
  label: string;
  /** A coarse confidence bucket, deliberately not a number. */
  score: "low" | "medium" | "high";
};

/** One message of a chat, as the gateway passes it to an external model. */
export type ChatMessage = { role: "system" | "developer" | "user" | "assistant"; content: string };

/** What a chat-completions request may ask of an external model, besides its messages. */
export type ChatOptions = {
  temperature?: number | null | undefined;
  top_p?: number | null | undefined;
  max_tokens?: number | null | undefined;
  max_completion_tokens?: number | null | undefined;
  stop?: string | string[] | null | undefined;
  seed?: number | null | undefined;
  presence_penalty?: number | null | undefined;
  frequency_penalty?: number | null | undefined;
  response_format?:
    | { type: "text" }
    | { type: "json_object" }
    | {
        type: "json_schema";
        json_schema: {
          name: string;
          description?: string | undefined;
          schema?: Record<string, unknown> | undefined;
          strict?: boolean | null | undefined;
        };
      }
    | undefined;
};

export type TokenUsage = { prompt_tokens: number; completion_tokens: number; total_tokens: number };

/** A piece of a streamed completion: some text, and at the end why it stopped and what it used. */
export type ChatDelta = {
  content?: string;
  finishReason?: "stop" | "length" | "content_filter";
  usage?: TokenUsage;
};

export type Model = {
  /**
   * Names the model in receipts and in `GET /v1/models`. The embedded model's is the SHA-256 of
   * its weights, the `weightsHash` its training run committed on chain. An external model's is
   * `external:<model name>`: it names what the operator configured and commits to no weights,
   * since nobody outside the model server can see them. It never holds the server's address.
   */
  readonly id: string;
  /** The labels `classify` chooses from, when the model knows them (the embedded one does). */
  readonly labels?: readonly string[];
  /**
   * The training run whose committed weights these are (set by loadModel). While governance has
   * revoked that run, queries are refused (MODEL_REVOKED) before anything is counted: the worker
   * keeps no model alive that the DAO withdrew, even one it loaded before the revocation.
   */
  readonly runId?: Hex;
  /** Set by the stand-in of a worker with no model: queries are refused before anything is counted. */
  readonly unconfigured?: true;
  classify(input: string, options?: { signal?: AbortSignal }): Promise<ModelAnswer>;
  /**
   * A model that speaks chat itself (an external LLM behind the governed gateway) streams its
   * completion of the messages; the worker passes it on. A model without it answers chat requests
   * by classifying the last user message.
   */
  chat?(messages: readonly ChatMessage[], options: ChatOptions & { signal: AbortSignal }): AsyncIterable<ChatDelta>;
  close?(): Promise<void>;
};
