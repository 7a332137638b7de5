import { describe, expect, it } from "vitest";
import { renderProblem } from "../../src/internal/renderProblem.ts";
import { WorkerError } from "../../src/internal/WorkerError.ts";

const docsUrl = "https://docs.example/pipeline-worker/errors";

describe("renderProblem", () => {
  it("renders a worker error as an RFC 9457 problem whose type links to the code's docs", () => {
    const error = new WorkerError("KILL_SWITCH_ENGAGED", "The kill switch was engaged at block 1234.", {
      extra: { policyVersion: 42, reason: "exfiltration suspected" },
    });
    expect(renderProblem(error, { docsUrl, instance: "urn:request:abc" })).toEqual({
      type: `${docsUrl}#kill_switch_engaged`,
      title: "The kill switch is engaged",
      status: 503,
      detail: "The kill switch was engaged at block 1234.",
      code: "KILL_SWITCH_ENGAGED",
      instance: "urn:request:abc",
      retryable: false,
      policyVersion: 42,
      reason: "exfiltration suspected",
    });
  });

  it("maps each code to its status", () => {
    expect(renderProblem(new WorkerError("QUOTA_EXHAUSTED", "x"), { docsUrl }).status).toBe(429);
    expect(renderProblem(new WorkerError("PAYLOAD_TOO_LARGE", "x"), { docsUrl }).status).toBe(413);
    expect(renderProblem(new WorkerError("POLICY_STALE", "x"), { docsUrl })).toMatchObject({
      status: 503,
      retryable: true,
    });
  });

  it("does not let extension members override the standard ones", () => {
    const error = new WorkerError("NOT_FOUND", "No such submission.", {
      extra: { status: 200, code: "OK", field: "id" },
    });
    expect(renderProblem(error, { docsUrl })).toMatchObject({ status: 404, code: "NOT_FOUND", field: "id" });
  });

  it("hides the message of an unexpected error behind INTERNAL", () => {
    const problem = renderProblem(new Error("ENOENT: /home/operator/.secrets/key.json"), { docsUrl });
    expect(problem).toMatchObject({ status: 500, code: "INTERNAL", type: `${docsUrl}#internal` });
    expect(JSON.stringify(problem)).not.toContain("secrets");
  });

  it("never shows a client a URL's credentials or path key quoted in a message, a hint or an extension member", () => {
    const error = new WorkerError(
      "STORAGE_UNAVAILABLE",
      "The Kubo node at http://user:hunter2@127.0.0.1:5001/ failed.",
      {
        hints: ["Check https://gateway.example/ipfs?key=SECRETKEY."],
        extra: { node: { url: "http://user:hunter2@127.0.0.1:5001/api/v0/add" } },
      },
    );
    const problem = renderProblem(error, { docsUrl });
    expect(JSON.stringify(problem)).not.toMatch(/hunter2|SECRETKEY/);
    expect(problem).toMatchObject({
      detail: "The Kubo node at http://127.0.0.1:5001/ failed.",
      hints: ["Check https://gateway.example/…."],
      node: { url: "http://127.0.0.1:5001/…" },
    });
  });
});
