import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isWorkerError } from "@dao-ai/pipeline-worker/errors";
import { loadRuntimeConfig } from "@dao-ai/governance-ui/loadRuntimeConfig";
import { createRuntimeConfig, runtimeConfigFromEnv } from "../../governance-ui/server/runtimeConfigFromEnv.ts";
import type { Deployment } from "../../scripts/lib/deploy/deploySystem.ts";
import { readManifest, writeManifest } from "../../scripts/lib/deploy/manifest.ts";
import { createSystem } from "../helpers/system.ts";

// The manifest the deploy writes is read back by the CLIs, the UI's server and the app in the
// browser, each through the one schema (@dao-ai/pipeline-worker/deployment): a manifest with a
// missing or mistyped field is refused by each with an error naming the file (where there is one)
// and the field. The worker's own readers are tested in pipeline-worker/test/chain.

const execFileAsync = promisify(execFile);
const repoRoot = path.resolve(import.meta.dirname, "../..");

let deployment: Deployment;
let dir: string;
const files: Record<"valid" | "missing" | "mistyped", string> = { valid: "", missing: "", mistyped: "" };
const problems = {
  missing: "contracts.runRewards is missing",
  mistyped: "deploymentBlock is invalid: expected string, received number",
};
const brokenManifests = () => {
  const { runRewards: _runRewards, ...contracts } = deployment.contracts;
  return { missing: { ...deployment, contracts }, mistyped: { ...deployment, deploymentBlock: 7 } };
};

beforeAll(async () => {
  ({ deployment } = await createSystem());
  dir = await mkdtemp(path.join(tmpdir(), "manifests-"));
  files.valid = writeManifest(deployment, path.join(dir, "valid.json"));
  for (const [name, json] of Object.entries(brokenManifests())) {
    const file = path.join(dir, `${name}.json`);
    await writeFile(file, JSON.stringify(json));
    files[name as "missing" | "mistyped"] = file;
  }
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function refusal(read: () => unknown): string {
  try {
    read();
  } catch (error) {
    if (isWorkerError(error, "CONFIG_INVALID")) return error.shortMessage;
    throw error;
  }
  throw new Error("the manifest was accepted");
}

describe("every reader of the deployment manifest validates it", () => {
  it("the CLIs (readManifest) read back what the deploy wrote, and refuse a broken one naming the file and field", () => {
    expect(readManifest(files.valid)).toEqual(deployment);
    for (const name of ["missing", "mistyped"] as const) {
      expect(refusal(() => readManifest(files[name]))).toBe(
        `The deployment manifest ${files[name]} is invalid: ${problems[name]}.`,
      );
    }
  });

  it("the UI's dev server (UI_MANIFEST) refuses a broken manifest the same way", () => {
    const before = process.env.UI_MANIFEST;
    try {
      process.env.UI_MANIFEST = files.valid;
      expect(runtimeConfigFromEnv().deployment).toEqual(deployment);
      process.env.UI_MANIFEST = files.missing;
      expect(refusal(() => runtimeConfigFromEnv())).toBe(
        `The deployment manifest ${files.missing} is invalid: ${problems.missing}.`,
      );
    } finally {
      if (before === undefined) delete process.env.UI_MANIFEST;
      else process.env.UI_MANIFEST = before;
    }
  });

  it("the UI's server (npm run start -w governance-ui) exits saying which file and field are wrong", async () => {
    const dist = await mkdtemp(path.join(tmpdir(), "ui-dist-"));
    await writeFile(path.join(dist, "index.html"), "<!doctype html><title>app</title>");
    const started = execFileAsync(
      process.execPath,
      [
        path.join(repoRoot, "governance-ui/server/main.ts"),
        "--manifest",
        files.mistyped,
        "--dist",
        dist,
        "--port",
        "0",
      ],
      { timeout: 30_000 },
    );
    await expect(started).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining(`The deployment manifest ${files.mistyped} is invalid: ${problems.mistyped}.`),
    });
    await rm(dist, { recursive: true, force: true });
  });

  it("the app refuses a /config.json whose deployment is broken, listing the field", async () => {
    const served = new Map<string, unknown>([
      ["/valid.json", createRuntimeConfig({ deployment })],
      ...Object.entries(brokenManifests()).map(
        ([name, json]) =>
          [`/${name}.json`, { ...createRuntimeConfig({ deployment }), deployment: json }] as [string, unknown],
      ),
    ]);
    const server = http.createServer((request, response) => {
      response.setHeader("content-type", "application/json");
      response.end(JSON.stringify(served.get(request.url ?? "")));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      expect((await loadRuntimeConfig(`${base}/valid.json`)).deployment).toEqual(deployment);
      for (const name of ["missing", "mistyped"] as const) {
        const refused = await loadRuntimeConfig(`${base}/${name}.json`).then(
          () => undefined,
          (error: unknown) => error as { shortMessage: string; hints: string[] },
        );
        expect(refused?.shortMessage).toBe("The app's configuration is invalid.");
        expect(refused?.hints).toContain(`deployment: ${problems[name]}`);
      }
    } finally {
      server.close();
    }
  });
});
