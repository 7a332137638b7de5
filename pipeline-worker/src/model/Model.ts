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

export type Model = {
  /** Identifies the weights, e.g. their SHA-256 or the run id that produced them. */
  readonly id: string;
  classify(input: string, options?: { signal?: AbortSignal }): Promise<ModelAnswer>;
  close?(): Promise<void>;
};
