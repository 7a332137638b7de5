import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { policyRegistryAbi } from "../../../deployments/abis.ts";
import { createWorkerSystem, type WorkerSystem } from "../helpers/createWorkerSystem.ts";

let s: WorkerSystem;
beforeAll(async () => {
  s = await createWorkerSystem();
});
afterAll(async () => {
  await s?.close();
});

const get = (path: string) => fetch(`${s.url}${path}`);

describe("the worker's service routes", () => {
  it("answers health, readiness and Prometheus metrics", async () => {
    expect(await (await get("/healthz")).json()).toEqual({ status: "ok" });
    expect(await (await get("/readyz")).json()).toEqual({ status: "ready" });
    const metrics = await (await get("/metrics")).text();
    expect(metrics).toContain("worker_errors_total");
    expect(metrics).toContain("worker_policy_confirmed_block");
  });

  it("publishes the EIP-712 domains and types clients sign", async () => {
    const eip712 = (await (await get("/v1/eip712")).json()) as {
      submission: { domain: { chainId: number; verifyingContract: string }; primaryType: string };
      usage: { domain: { name: string; version: string; verifyingContract: string }; primaryType: string };
      keyGrant: { domain: { verifyingContract: string }; primaryType: string };
    };
    expect(eip712.submission.primaryType).toBe("Submission");
    expect(eip712.submission.domain.chainId).toBe(s.deployment.chainId);
    expect(eip712.submission.domain.verifyingContract.toLowerCase()).toBe(s.deployment.contracts.contributorRewards);
    // Queries and keys are signed in UsageSettlement's own domain, which settles them.
    expect(eip712.usage.primaryType).toBe("Usage");
    expect(eip712.usage.domain).toMatchObject({ name: "DAO AI Query", version: "2" });
    expect(eip712.usage.domain.verifyingContract.toLowerCase()).toBe(s.deployment.contracts.usageSettlement);
    expect(eip712.keyGrant.primaryType).toBe("KeyGrant");
    expect(eip712.keyGrant.domain.verifyingContract.toLowerCase()).toBe(s.deployment.contracts.usageSettlement);
  });

  it("serves the policy it enforces, with the block and version it was read at", async () => {
    const snapshot = (await (await get("/v1/policy")).json()) as {
      policyVersion: string;
      blockNumber: string;
      policy: { submitters: string[]; committee: { threshold: number } };
    };
    const version = await s.publicClient.readContract({
      address: s.deployment.contracts.policyRegistry,
      abi: policyRegistryAbi,
      functionName: "policyVersion",
    });
    expect(snapshot.policyVersion).toBe(version.toString());
    expect(BigInt(snapshot.blockNumber)).toBeGreaterThan(0n);
    expect(snapshot.policy.committee.threshold).toBe(2);
  });

  it("answers unknown routes and errors as problem+json whose type links to the served catalogue", async () => {
    const response = await get("/v1/nothing-here");
    expect(response.status).toBe(404);
    expect(response.headers.get("content-type")).toContain("application/problem+json");
    const problem = (await response.json()) as { code: string; type: string };
    expect(problem.code).toBe("NOT_FOUND");
    expect(problem.type).toBe("/docs/errors.md#not_found");
    const docs = await (await get("/docs/errors.md")).text();
    expect(docs).toContain("## NOT_FOUND");
  });

  it("refuses everything that needs policy with POLICY_STALE once its view is too old", async () => {
    const stale = await createWorkerSystemStale();
    expect(stale.status).toBe(503);
    expect(stale.code).toBe("POLICY_STALE");
  });
});

/** A worker whose only poll failed (its RPC is unreachable) is not ready and refuses policy reads. */
async function createWorkerSystemStale(): Promise<{ status: number; code: string }> {
  const { createWorker } = await import("../../src/createWorker.ts");
  const { createLogger } = await import("../../src/internal/createLogger.ts");
  const { createPublicClient, http } = await import("viem");
  const { mkdtemp, writeFile, rm } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const path = await import("node:path");
  const dir = await mkdtemp(path.join(tmpdir(), "worker-stale-"));
  const manifest = path.join(dir, "deployment.json");
  await writeFile(manifest, JSON.stringify(s.deployment));
  const worker = await createWorker({
    config: {
      rpcUrl: "http://127.0.0.1:9",
      chainId: s.deployment.chainId,
      deploymentManifest: manifest,
      dataDir: dir,
      http: { host: "127.0.0.1", port: 0 },
      confirmations: 0,
      stalenessSeconds: 60,
      maxPayloadBytes: 1024,
      storage: { kind: "helia", kuboUrl: undefined },
      privateKey: `0x${"22".repeat(32)}`,
      logLevel: "silent",
    },
    logger: createLogger({ level: "silent" }),
    publicClient: createPublicClient({ transport: http("http://127.0.0.1:9", { retryCount: 0 }) }),
    autoRecord: false,
  });
  try {
    const url = await worker.listen();
    const ready = await fetch(`${url}/readyz`);
    const policy = (await (await fetch(`${url}/v1/policy`)).json()) as { code: string };
    expect(policy.code).toBe("POLICY_STALE");
    return { status: ready.status, code: ((await ready.json()) as { code: string }).code };
  } finally {
    await worker.close();
    await rm(dir, { recursive: true, force: true });
  }
}
