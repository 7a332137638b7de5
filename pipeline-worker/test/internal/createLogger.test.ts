import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
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
});
