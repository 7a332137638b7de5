import { describe, expect, it } from "vitest";
import { BaseError } from "../../src/internal/BaseError.ts";
import { isWorkerError, WorkerError } from "../../src/internal/WorkerError.ts";

describe("BaseError", () => {
  it("puts the short message first, then the hints, then what went wrong underneath", () => {
    const cause = new Error("connect ECONNREFUSED 127.0.0.1:5001");
    const error = new BaseError("Cannot reach the Kubo node.", {
      hints: ["Start the node, or check storage.kuboUrl."],
      cause,
    });
    expect(error.shortMessage).toBe("Cannot reach the Kubo node.");
    expect(error.message).toBe(
      "Cannot reach the Kubo node.\n\n- Start the node, or check storage.kuboUrl.\n\nDetails: connect ECONNREFUSED 127.0.0.1:5001",
    );
    expect(error.cause).toBe(cause);
    expect(error.retryable).toBe(false);
  });

  it("walks the cause chain to the error a caller asks about", () => {
    const root = new Error("socket hang up");
    const middle = new BaseError("RPC call failed.", { cause: root, retryable: true });
    const top = new BaseError("Policy sync failed.", { cause: middle });
    expect(top.walk()).toBe(root);
    expect(top.walk((error) => error instanceof BaseError && error.retryable)).toBe(middle);
    expect(top.walk((error) => error instanceof TypeError)).toBeUndefined();
  });
});

describe("WorkerError", () => {
  it("takes retryable from the catalogue unless told otherwise", () => {
    expect(new WorkerError("STORAGE_UNAVAILABLE", "Kubo is down.").retryable).toBe(true);
    expect(new WorkerError("SIGNATURE_INVALID", "Bad signature.").retryable).toBe(false);
    expect(new WorkerError("INTERNAL", "Flaky.", { retryable: true }).retryable).toBe(true);
  });

  it("is recognised by code", () => {
    const error = new WorkerError("NONCE_REPLAYED", "Nonce 7 was already used.");
    expect(error).toBeInstanceOf(BaseError);
    expect(error.name).toBe("WorkerError");
    expect(isWorkerError(error, "NONCE_REPLAYED")).toBe(true);
    expect(isWorkerError(error, "QUOTA_EXHAUSTED")).toBe(false);
    expect(isWorkerError(new Error("x"))).toBe(false);
  });
});
