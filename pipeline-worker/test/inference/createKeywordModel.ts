import type { Model, ModelAnswer } from "../../src/model/Model.ts";

const SCAM_WORDS = ["urgent", "wallet", "seed phrase", "prize", "verify", "gift card", "airdrop", "password"];

export type KeywordModel = Model & {
  /** Calls started, and those that ended because their signal aborted. */
  calls: { started: number; aborted: number; answered: number };
  /** Makes every call wait until `release` (or its signal aborts). */
  hold(): void;
  release(): void;
};

/**
 * A stand-in for the embedded model in tests: a deterministic keyword classifier. It also answers
 * with a probability, as a careless model adapter might, so tests can check the worker passes on
 * no more than the label and the coarse score.
 */
export function createKeywordModel(): KeywordModel {
  const calls = { started: 0, aborted: 0, answered: 0 };
  let gate: { promise: Promise<void>; open: () => void } | undefined;
  return {
    id: "keyword-test-model-v1",
    labels: ["legit", "scam"],
    calls,
    hold() {
      let open!: () => void;
      const promise = new Promise<void>((resolve) => (open = resolve));
      gate = { promise, open };
    },
    release() {
      gate?.open();
      gate = undefined;
    },
    async classify(input, options = {}) {
      calls.started++;
      const { signal } = options;
      if (gate !== undefined) {
        const held = gate.promise;
        await new Promise<void>((resolve, reject) => {
          const onAbort = () => {
            calls.aborted++;
            reject(signal!.reason);
          };
          if (signal?.aborted) return onAbort();
          signal?.addEventListener("abort", onAbort, { once: true });
          void held.then(() => {
            signal?.removeEventListener("abort", onAbort);
            resolve();
          });
        });
      }
      const text = input.toLowerCase();
      const hits = SCAM_WORDS.filter((word) => text.includes(word)).length;
      calls.answered++;
      const answer = {
        label: hits > 0 ? "scam" : "legit",
        score: hits >= 2 ? "high" : hits === 1 ? "medium" : "low",
        probability: hits > 0 ? 0.93 : 0.08,
      };
      return answer as ModelAnswer;
    },
  };
}
