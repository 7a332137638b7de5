// `npm run demo` as CI runs it: no stack running, so the demo starts one, tells the whole story,
// checks every step, and stops the stack again.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { repoRoot } from "../../scripts/lib/deploy/contractArtifacts.ts";
import { freePort, isListening, npmRun, processesMentioning, type NpmRun } from "./helpers/childProcesses.ts";

const dataDir = mkdtempSync(join(tmpdir(), "dao-ai-demo-"));
let run: NpmRun | undefined;

afterAll(async () => {
  if (run && run.child.exitCode === null && run.child.signalCode === null) {
    run.signal("SIGKILL");
    await run.exited;
  }
  for (const p of processesMentioning(dataDir)) process.kill(p.pid, "SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
});

describe("npm run demo", () => {
  test("tells the story end to end, every step as told, and leaves nothing running", async () => {
    const chainPort = await freePort();
    const workerPort = await freePort();
    const keyholderPorts = [await freePort(), await freePort(), await freePort()];
    const uiPort = await freePort();
    run = npmRun(
      [
        "run",
        "demo",
        "--",
        "--data-dir",
        dataDir,
        "--chain-port",
        `${chainPort}`,
        "--worker-port",
        `${workerPort}`,
        "--keyholder-ports",
        keyholderPorts.join(","),
        "--ui-port",
        `${uiPort}`,
      ],
      repoRoot,
    );
    const { code } = await run.exited;
    const output = run.output();
    expect(code, output).toBe(0);
    for (const chapter of [
      "An epoch to tell the story in",
      "Token holders vote a policy in",
      "An attester vouches for data and a contributor submits it",
      "What the policy does not allow is refused",
      "A training run is approved, the keyholders release their shares, and the model is trained",
      "A consumer queries the model, with its wallet and then with an API key, until its quota is spent",
      "The guardian Safe pulls the kill switch, and everything stops",
      "The DAO votes to lift the kill switch",
      "The epoch ends and the contributor claims its reward",
      "The model's fees go to the contributions it was trained on",
    ]) {
      expect(output).toContain(chapter);
    }
    // The refusals carry the documented codes.
    expect(output).toMatch(/an outsider with a genuine attestation: 403 SUBMITTER_NOT_ALLOWED/);
    expect(output).toMatch(/a forged attestation .*: 422 ATTESTATION_INVALID/);
    expect(output).toMatch(/the worker refuses submissions: 503 KILL_SWITCH_ENGAGED/);
    expect(output).toContain("[warn] keyholder unavailable; continuing without it");
    expect(output).toContain("every submission decrypted and matched its attested hash");
    expect(output).toMatch(/a fourth query: 429 QUOTA_EXHAUSTED/);
    expect(output).toMatch(/with the key \(Authorization: Bearer\): .* is (scam|legit)/);
    expect(output).toMatch(/the worker refuses it at once: 401 KEY_REVOKED/);
    expect(output).toContain("the worker settled the 3 queries on chain in two entries");
    // A fresh stack: the grant is in the story's epoch, and all its data is the contributor's; the
    // query fees went to the served model's contributions (the contributor's, in its tree).
    expect(output).toContain("the contributor claims and receives 1 ETH");
    expect(output).toContain("the 0.003 ETH its queries paid went to the model's contributions");
    expect(output).toMatch(/recorded after the model was trained, is not in it: it earns nothing from its queries/);
    expect(output).toMatch(/the contributor claims the 0\.00\d+ ETH its contributions earned from the model/);
    expect(output).toContain("The story went as told.");
    expect(output).not.toContain("✗");
    // It stopped the stack it started.
    expect(processesMentioning(dataDir)).toEqual([]);
    for (const port of [chainPort, workerPort, ...keyholderPorts, uiPort])
      expect(await isListening(port), `port ${port}`).toBe(false);
  }, 420_000);
});
