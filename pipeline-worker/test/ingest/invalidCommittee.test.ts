import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { toHex, type Hex } from "viem";
import type { PolicyView } from "../../src/policy/createPolicySync.ts";
import { createWorkerSystem, type WorkerSystem } from "../helpers/createWorkerSystem.ts";
import { createSubmitter, type Submitter } from "../helpers/submissions.ts";

// The PolicyRegistry now refuses a committee with duplicate keys, but a registry deployed before
// that may already hold one, and a key that is not a point was never refused on chain. The worker
// must not trust the committee it reads: these tests put such a committee into the policy the
// worker holds, as a registry of an older deployment would hand it over.

let s: WorkerSystem;
let submitter: Submitter;
let restore: (() => void) | undefined;

beforeAll(async () => {
  s = await createWorkerSystem();
  submitter = createSubmitter(s);
});
afterEach(() => {
  restore?.();
  restore = undefined;
});
afterAll(async () => {
  await s?.close();
});

/** Makes the worker's policy name `publicKeys` as the committee's keys, as an older registry could. */
function holdCommittee(publicKeys: (keys: readonly Hex[]) => Hex[]): void {
  const sync = s.worker.policySync;
  const real = sync.requireFreshPolicy;
  sync.requireFreshPolicy = (): PolicyView => {
    const view = real();
    const committee = { ...view.policy.committee, publicKeys: publicKeys(view.policy.committee.publicKeys) };
    return { ...view, policy: { ...view.policy, committee } };
  };
  restore = () => {
    sync.requireFreshPolicy = real;
  };
}

describe("ingest under an invalid keyholder committee", () => {
  it("a committee listing one key twice (K1, K1, K2; threshold 2) is refused: no submission is taken whose key K1's holder could open alone", async () => {
    holdCommittee(([k1, , k3]) => [k1!, k1!, k3!]);
    const { envelope } = await submitter.prepare();
    const before = await submitter.submissionsOf(envelope.contributor);
    const response = await submitter.post(envelope);
    expect({ status: response.status, code: response.json.code }).toEqual({ status: 503, code: "COMMITTEE_INVALID" });
    expect(response.type).toContain("application/problem+json");
    expect(response.json.detail).toContain("is listed twice");
    expect(await submitter.submissionsOf(envelope.contributor)).toEqual(before);
  });

  it("an upload under a committee with a key that is not a point stores nothing and leaves the submission awaiting its data", async () => {
    const { data, envelope } = await submitter.prepare();
    const posted = await submitter.post(envelope);
    expect(posted.status).toBe(201);
    const id = posted.json.id as string;

    const stored = s.storedBlocks();
    // 0x02 then x = 0x0303...03: no point on secp256k1 has that x.
    const notAPoint = toHex(Uint8Array.of(2, ...new Uint8Array(32).fill(3)));
    holdCommittee(([k1, k2]) => [k1!, k2!, notAPoint]);
    const refused = await submitter.put(id, data);
    expect({ status: refused.status, code: refused.json.code }).toEqual({ status: 503, code: "COMMITTEE_INVALID" });
    // Nothing of the upload was kept: no ciphertext, no manifest.
    expect(s.storedBlocks()).toBe(stored);
    const [status] = (await submitter.submissionsOf(envelope.contributor)).filter(
      (submission) => (submission as { id: string }).id === id,
    );
    expect(status).toMatchObject({ state: "awaiting_data" });

    // Once the committee is valid again, the same data goes in.
    restore!();
    restore = undefined;
    const retried = await submitter.put(id, data);
    expect({ status: retried.status, state: retried.json.state }).toEqual({ status: 202, state: "stored" });
  });
});
