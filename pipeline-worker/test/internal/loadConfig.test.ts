import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/internal/loadConfig.ts";
import { WorkerError } from "../../src/internal/WorkerError.ts";

const KEY = `0x${"ab".repeat(32)}`;
const minimalEnv = { WORKER_RPC_URL: "http://127.0.0.1:8545", WORKER_CHAIN_ID: "31337", WORKER_PRIVATE_KEY: KEY };

function writeConfig(content: unknown): string {
  const dir = mkdtempSync(path.join(tmpdir(), "worker-config-"));
  const file = path.join(dir, "worker.json");
  writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content));
  return file;
}

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(WorkerError);
    expect((error as WorkerError).code).toBe("CONFIG_INVALID");
    return (error as WorkerError).hints as string[];
  }
  throw new WorkerError("INTERNAL", "expected loadConfig to throw");
}

describe("loadConfig", () => {
  it("needs only the chain, its id and a key; everything else has a safe default", () => {
    const config = loadConfig({ env: minimalEnv, cwd: "/srv/worker" });
    expect(config).toEqual({
      rpcUrl: "http://127.0.0.1:8545",
      chainId: 31337,
      deploymentManifest: "/srv/worker/deployments/31337.json",
      dataDir: "/srv/worker/.data/worker",
      http: { host: "127.0.0.1", port: 8787, bodyIdleTimeoutMs: 30_000 },
      confirmations: 2,
      stalenessSeconds: 60,
      // A local chain (31337) mines only on demand: its head's age says nothing.
      maxHeadAgeSeconds: 0,
      maxPayloadBytes: 256 * 1024 * 1024,
      maxConcurrentUploads: 32,
      storage: { kind: "helia", kuboUrl: undefined },
      inference: {
        workerIndex: 0,
        workerCount: 1,
        maxInputLength: 4096,
        settlementBatchSize: 200,
        settlementIntervalSeconds: 60,
      },
      privateKey: KEY,
      logLevel: "info",
    });
  });

  it("refuses a worker index outside the worker count", () => {
    const problems = problemsOf(() => loadConfig({ env: { ...minimalEnv, WORKER_INDEX: "3", WORKER_COUNT: "3" } }));
    expect(problems).toEqual([
      "inference.workerIndex (from WORKER_INDEX): must be less than inference.workerCount (3), got 3. Set it to this worker's position among the workers serving the same consumers: 0, 1, ... up to inference.workerCount - 1.",
    ]);
  });

  it("reads the file and lets the environment override it", () => {
    const file = writeConfig({
      rpcUrl: "http://file:8545",
      chainId: 10,
      http: { port: 9000 },
      storage: { kind: "kubo", kuboUrl: "http://127.0.0.1:5001" },
      dataDir: "data",
    });
    const config = loadConfig({
      configPath: file,
      env: { WORKER_CHAIN_ID: "8453", WORKER_HTTP_HOST: "0.0.0.0", WORKER_PRIVATE_KEY: KEY, WORKER_LOG_LEVEL: "debug" },
      cwd: "/elsewhere",
    });
    expect(config.rpcUrl).toBe("http://file:8545");
    expect(config.chainId).toBe(8453);
    expect(config.http).toEqual({ host: "0.0.0.0", port: 9000, bodyIdleTimeoutMs: 30_000 });
    expect(config.storage).toEqual({ kind: "kubo", kuboUrl: "http://127.0.0.1:5001" });
    expect(config.logLevel).toBe("debug");
    // A path written in the file is relative to the file, wherever the worker is started from.
    expect(config.dataDir).toBe(path.join(path.dirname(file), "data"));
  });

  it("finds the file through WORKER_CONFIG", () => {
    const file = writeConfig({ confirmations: 0 });
    expect(loadConfig({ env: { ...minimalEnv, WORKER_CONFIG: file } }).confirmations).toBe(0);
  });

  it("reports every mistake at once, one line each, naming the field, its source and the fix", () => {
    const problems = problemsOf(() =>
      loadConfig({
        env: { WORKER_CHAIN_ID: "abc", WORKER_HTTP_PORT: "70000", WORKER_LOG_LEVEL: "loud", WORKER_PRIVATE_KEY: KEY },
      }),
    );
    expect(problems).toEqual([
      "rpcUrl: is missing; set WORKER_RPC_URL. Set it to the chain's JSON-RPC endpoint, e.g. http://127.0.0.1:8545.",
      'chainId (from WORKER_CHAIN_ID): must be a positive whole number, got "abc". Set it to the id of the chain the contracts are deployed on, e.g. 31337 for a local Hardhat or Anvil chain.',
      "http.port (from WORKER_HTTP_PORT): must be a port number from 0 to 65535, got 70000. Set it to a free port, e.g. 8787 (0 picks any free port).",
      'logLevel (from WORKER_LOG_LEVEL): must be one of fatal, error, warn, info, debug, trace, silent, got "loud". Use one of fatal, error, warn, info, debug, trace, silent.',
    ]);
  });

  it("takes the body idle timeout from the environment, in milliseconds up to an hour", () => {
    const env = { ...minimalEnv, WORKER_HTTP_BODY_IDLE_TIMEOUT_MS: "120000" };
    expect(loadConfig({ env }).http.bodyIdleTimeoutMs).toBe(120_000);
    // Node's timers fire at once past 2^31 - 1 ms: a huge timeout would refuse every upload.
    const problems = problemsOf(() =>
      loadConfig({ env: { ...minimalEnv, WORKER_HTTP_BODY_IDLE_TIMEOUT_MS: "3000000000" } }),
    );
    expect(problems).toEqual([
      "http.bodyIdleTimeoutMs (from WORKER_HTTP_BODY_IDLE_TIMEOUT_MS): must be a whole number of milliseconds from 1 to 3600000, got 3000000000. Set it to the longest pause in a request body before it is refused, in milliseconds, e.g. 30000.",
    ]);
  });

  it("bounds the RPC head's age by default on a public chain, not on a local one, and takes the operator's bound", () => {
    expect(loadConfig({ env: { ...minimalEnv, WORKER_CHAIN_ID: "8453" } }).maxHeadAgeSeconds).toBe(300);
    expect(loadConfig({ env: minimalEnv }).maxHeadAgeSeconds).toBe(0);
    expect(loadConfig({ env: { ...minimalEnv, WORKER_MAX_HEAD_AGE_SECONDS: "30" } }).maxHeadAgeSeconds).toBe(30);
    expect(
      loadConfig({ env: { ...minimalEnv, WORKER_CHAIN_ID: "8453", WORKER_MAX_HEAD_AGE_SECONDS: "0" } })
        .maxHeadAgeSeconds,
    ).toBe(0);
    expect(problemsOf(() => loadConfig({ env: { ...minimalEnv, WORKER_MAX_HEAD_AGE_SECONDS: "-1" } }))).toEqual([
      expect.stringMatching(/^maxHeadAgeSeconds \(from WORKER_MAX_HEAD_AGE_SECONDS\): must be/),
    ]);
  });

  it("catches a misspelt field in the file instead of ignoring it", () => {
    const file = writeConfig({ confirmation: 3 });
    const [problem] = problemsOf(() => loadConfig({ configPath: file, env: minimalEnv }));
    expect(problem).toBe(
      `confirmation (in ${file}): unknown field. Remove it or correct its spelling; known fields here: rpcUrl, chainId, deploymentManifest, dataDir, http, confirmations, stalenessSeconds, maxHeadAgeSeconds, maxPayloadBytes, maxConcurrentUploads, storage, inference, logLevel.`,
    );
  });

  it("refuses a private key in the file and never echoes a key's value", () => {
    const file = writeConfig({ privateKey: KEY });
    const problems = problemsOf(() =>
      loadConfig({ configPath: file, env: { ...minimalEnv, WORKER_PRIVATE_KEY: "0xdeadbeef" } }),
    );
    expect(problems).toEqual([
      `privateKey (in ${file}): must not be in the config file. Remove it and set the environment variable WORKER_PRIVATE_KEY to the worker account's private key; it is never read from the config file.`,
      "privateKey (from WORKER_PRIVATE_KEY): must be 0x followed by 64 hex digits. Set the environment variable WORKER_PRIVATE_KEY to the worker account's private key; it is never read from the config file.",
    ]);
    expect(problems.join("\n")).not.toContain("deadbeef");
    expect(problems.join("\n")).not.toContain("abab");
  });

  it("requires a Kubo URL when the storage is Kubo", () => {
    const problems = problemsOf(() => loadConfig({ env: { ...minimalEnv, WORKER_STORAGE_KIND: "kubo" } }));
    expect(problems).toEqual([
      "storage.kuboUrl: is required when storage.kind is kubo; set WORKER_KUBO_URL. Set it to the Kubo node's RPC API address, e.g. http://127.0.0.1:5001.",
    ]);
  });

  it("says which file is broken when it is not JSON", () => {
    const file = writeConfig("{ chainId: 1, }");
    expect(() => loadConfig({ configPath: file, env: minimalEnv })).toThrow(
      `Invalid configuration: ${file} is not valid JSON.`,
    );
  });

  it("says which file is missing", () => {
    expect(() => loadConfig({ configPath: "/nonexistent/worker.json", env: minimalEnv })).toThrow(
      "Invalid configuration: cannot read the config file /nonexistent/worker.json.",
    );
  });
});
