import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { HttpRequestError } from "viem";
import { createLogger } from "../../src/internal/createLogger.ts";
import { WorkerError } from "../../src/internal/WorkerError.ts";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, destination };
}

describe("createLogger", () => {
  it("writes one JSON object per line with the level as a word and the component's name", () => {
    const { lines, destination } = capture();
    const logger = createLogger({ name: "ingest", destination, level: "debug" });
    logger.debug({ submissionId: "0x01" }, "stored");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: "debug", name: "ingest", submissionId: "0x01", msg: "stored" });
    expect(typeof lines[0]!.time).toBe("string");
  });

  it("drops lines below the configured level", () => {
    const { lines, destination } = capture();
    const logger = createLogger({ destination, level: "warn" });
    logger.info("not shown");
    logger.warn("shown");
    expect(lines.map((line) => line.msg)).toEqual(["shown"]);
  });

  it("never writes a private key, data key or key share", () => {
    const { lines, destination } = capture();
    const logger = createLogger({ destination });
    logger.info(
      { config: { privateKey: "0xSECRET1", chainId: 1 }, dataKey: "SECRET2", job: { shares: ["SECRET3"] } },
      "starting",
    );
    const text = JSON.stringify(lines);
    expect(text).not.toMatch(/SECRET/);
    expect(lines[0]).toMatchObject({ config: { privateKey: "[redacted]", chainId: 1 }, dataKey: "[redacted]" });
  });

  it("logs a worker error with its code and hints", () => {
    const { lines, destination } = capture();
    const logger = createLogger({ destination });
    logger.error(
      { err: new WorkerError("POLICY_STALE", "Policy is 90 s behind.", { hints: ["Check the RPC node."] }) },
      "refused",
    );
    expect(lines[0]!.err).toMatchObject({
      type: "WorkerError",
      code: "POLICY_STALE",
      retryable: true,
      hints: ["Check the RPC node."],
    });
  });

  it("never writes a URL's credentials or path key: not in an error's message, fields or causes, nor in the message or other fields", () => {
    const { lines, destination } = capture();
    const logger = createLogger({ destination });
    const viemError = new HttpRequestError({
      url: "http://127.0.0.1:8545/v3/SECRETKEY",
      body: { method: "eth_blockNumber" },
      details: "fetch failed",
    });
    logger.warn(
      { err: new WorkerError("CHAIN_UNAVAILABLE", "The RPC node failed.", { cause: viemError }) },
      "poll failed",
    );
    logger.error(
      { error: viemError, store: { url: "http://user:hunter2@127.0.0.1:5001/" } },
      "at https://rpc.example/v2/SECRETKEY",
    );
    const text = JSON.stringify(lines);
    expect(text).not.toContain("SECRETKEY");
    expect(text).not.toContain("hunter2");
    // What an operator needs stays: which endpoint, and the error's type and code.
    expect(lines[0]!.err).toMatchObject({ type: "WorkerError", code: "CHAIN_UNAVAILABLE" });
    expect(text).toContain("http://127.0.0.1:8545/…");
    expect(lines[1]).toMatchObject({ msg: "at https://rpc.example/…", store: { url: "http://127.0.0.1:5001/" } });
    expect(lines[1]!.error).toMatchObject({ type: "HttpRequestError", url: "http://127.0.0.1:8545/…" });
  });
});
