import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keccak256, toHex, type Hex } from "viem";
import { createGovernance, registryAction } from "../../../test/helpers/governance.ts";
import { createSnapshots } from "../../../test/helpers/snapshots.ts";
import type { Wallet } from "../../../test/helpers/system.ts";
import { policyRegistryAbi } from "../../../deployments/abis.ts";
import { combineKeyShares } from "../../src/crypto/combineKeyShares.ts";
import { decryptStream } from "../../src/crypto/decryptStream.ts";
import { generateKeyholderKeyPair } from "../../src/crypto/keyholderKeys.ts";
import { unwrapKeyShare } from "../../src/crypto/wrapKeyShare.ts";
import type { KeyholderClient } from "../../src/keyholder/createKeyholderClient.ts";
import {
  keyholderDomain,
  shareReleaseContext,
  shareRequestTypes,
  type ShareRequest,
} from "../../src/keyholder/shareRequest.ts";
import { computeCid } from "../../src/storage/computeCid.ts";
import { encodeRunSpec, RUN_SPEC_FORMAT, runSpecHash } from "../../src/training/runSpec.ts";
import { collect, hexBytes, trainingData } from "../helpers/submissions.ts";
import { createTrainingSystem, type Submitted, type TrainingSystem } from "../training/createTrainingSystem.ts";

// Keyholders over their real HTTP API, against the real chain: what they release, to whom, and
// every refusal with its stable code.

let t: TrainingSystem;
let snapshots: ReturnType<typeof createSnapshots>;
let listed: Submitted[];
let unlisted: Submitted;
let spec: Uint8Array;
let runId: Hex;
const data = [trainingData(3000), trainingData(5000), trainingData(100)];

beforeAll(async () => {
  t = await createTrainingSystem();
  listed = [await t.submitData(data[0]!), await t.submitData(data[1]!)];
  unlisted = await t.submitData(data[2]!);
  spec = encodeRunSpec({
    format: RUN_SPEC_FORMAT,
    chainId: t.deployment.chainId,
    contributorRewards: t.contracts.contributorRewards,
    model: { kind: "embedded", dimensions: 1024, ngrams: 2 },
    submissions: listed.map(({ manifest, dataHash }) => ({ manifest, dataHash })),
  });
  runId = await t.approveRun(runSpecHash(spec));
  for (const keyholder of t.keyholders) await keyholder.putSpec(runId, spec);
  snapshots = createSnapshots(t.testClient);
  await snapshots.save();
});
afterAll(async () => {
  await t?.closeAll();
});

type Ask = {
  keyholder?: number | (KeyholderClient & { url: string });
  submission?: Submitted;
  signer?: Wallet;
  run?: Hex;
  issuedAt?: number;
  ephemeral?: ReturnType<typeof generateKeyholderKeyPair>;
  manifestDocument?: string;
};

/** Signs a share request as `signer` (the run's operator by default) and sends it. */
async function ask(options: Ask = {}) {
  const submission = options.submission ?? listed[0]!;
  const client = typeof options.keyholder === "object" ? options.keyholder : t.keyholders[options.keyholder ?? 0]!;
  const ephemeral = options.ephemeral ?? generateKeyholderKeyPair();
  const message = {
    runId: options.run ?? runId,
    manifest: submission.manifest,
    keyholder: await client.publicKey(),
    ephemeralPublicKey: toHex(ephemeral.publicKey),
    issuedAt: BigInt(options.issuedAt ?? Math.floor(Date.now() / 1000)),
  };
  const signer = options.signer ?? t.accounts.worker;
  const signature = await signer.signTypedData({
    account: signer.account,
    domain: keyholderDomain(t.deployment.chainId, t.contracts.policyRegistry),
    types: shareRequestTypes,
    primaryType: "ShareRequest",
    message,
  });
  const manifestDocument =
    options.manifestDocument ?? new TextDecoder().decode(await collect(t.s.worker.store.get(submission.manifest)));
  const request: ShareRequest = { ...message, issuedAt: Number(message.issuedAt), signature, manifestDocument };
  const response = await fetch(`${(client as unknown as { url: string }).url}/v1/shares`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(request),
  });
  const json = (await response.json()) as Record<string, unknown>;
  return { status: response.status, type: response.headers.get("content-type"), json, request, ephemeral };
}

/** The released share, opened with the request's ephemeral key. */
function open(answer: Awaited<ReturnType<typeof ask>>): Uint8Array {
  return unwrapKeyShare(hexBytes(answer.json.wrappedShare as Hex), {
    privateKey: answer.ephemeral.privateKey,
    context: shareReleaseContext(answer.request),
  });
}

async function decrypt(submission: Submitted, key: Uint8Array): Promise<Uint8Array> {
  const manifest = await t.readManifest(submission.manifest);
  return collect(
    decryptStream(t.s.worker.store.get(manifest.ciphertext), {
      key,
      associatedData: hexBytes(manifest.associatedData),
    }),
  );
}

async function expectRefused(answer: Promise<Awaited<ReturnType<typeof ask>>>, status: number, code: string) {
  const { status: got, type, json } = await answer;
  expect({ status: got, code: json.code }).toEqual({ status, code });
  expect(type).toContain("application/problem+json");
  expect(json).not.toHaveProperty("wrappedShare");
}

describe("keyholder: releasing shares", () => {
  it("releases its share to the run's operator, wrapped to the request's ephemeral key; k shares decrypt", async () => {
    const a = await ask({ keyholder: 0 });
    const b = await ask({ keyholder: 2 });
    expect(a.status).toBe(200);
    expect(a.json.keyholder).toBe(await t.keyholders[0]!.publicKey());
    const shares = [open(a), open(b)];
    // The share never travels in clear: its bytes are nowhere in the answer.
    expect(JSON.stringify(a.json)).not.toContain(Buffer.from(shares[0]!).toString("hex"));
    const plaintext = await decrypt(listed[0]!, await combineKeyShares(shares));
    expect(Buffer.from(plaintext).equals(data[0]!)).toBe(true);
  });

  it("fewer than k shares cannot decrypt", async () => {
    const one = open(await ask({ keyholder: 1 }));
    await expect(decrypt(listed[0]!, await combineKeyShares([one]))).rejects.toMatchObject({
      code: "CIPHERTEXT_INVALID",
    });
  });

  it("a released share opens only with the requester's ephemeral key and context", async () => {
    const answer = await ask();
    const stranger = generateKeyholderKeyPair();
    expect(() =>
      unwrapKeyShare(hexBytes(answer.json.wrappedShare as Hex), {
        privateKey: stranger.privateKey,
        context: shareReleaseContext(answer.request),
      }),
    ).toThrow(expect.objectContaining({ code: "SHARE_UNWRAP_FAILED" }));
    expect(() =>
      unwrapKeyShare(hexBytes(answer.json.wrappedShare as Hex), {
        privateKey: answer.ephemeral.privateKey,
        context: shareReleaseContext({ ...answer.request, manifest: listed[1]!.manifest }),
      }),
    ).toThrow(expect.objectContaining({ code: "SHARE_UNWRAP_FAILED" }));
  });
});

describe("keyholder: refusals (problem+json, stable codes)", () => {
  it("refuses a run the DAO did not approve", async () => {
    await expectRefused(ask({ run: keccak256(toHex("never approved")) }), 403, "TRAINING_RUN_NOT_APPROVED");
  });

  it("refuses a revoked run", async () => {
    await snapshots.restore();
    await createGovernance(t).pass([registryAction(t, "revokeTrainingRun", [runId])]);
    await expectRefused(ask(), 403, "TRAINING_RUN_NOT_APPROVED");
    await snapshots.restore();
  });

  it("refuses a request signed by anyone but the run's operator", async () => {
    await expectRefused(ask({ signer: t.accounts.outsider }), 403, "NOT_RUN_OPERATOR");
    await expectRefused(ask({ signer: t.accounts.keyholders[0] }), 403, "NOT_RUN_OPERATOR");
  });

  it("refuses a submission that is not in the run's spec", async () => {
    await expectRefused(ask({ submission: unlisted }), 403, "NOT_IN_RUN_SPEC");
  });

  it("refuses while its RPC node's latest block is older than its bound (a node fallen behind), and releases once it catches up", async () => {
    await snapshots.restore();
    const head = await t.publicClient.getBlock({ blockTag: "latest" });
    let clock = Number(head.timestamp) * 1000;
    const keyholder = await t.startKeyholder(t.s.keyholderKeys[0]!.privateKey, {
      maxHeadAgeSeconds: 60,
      now: () => clock,
    });
    await keyholder.putSpec(runId, spec);
    // The keyholder's clock moves two minutes past the head: its node has made no block since.
    clock += 120_000;
    // Neither a spec is taken nor a share released on what such a node says.
    await expect(keyholder.putSpec(runId, spec)).rejects.toMatchObject({ code: "CHAIN_UNAVAILABLE" });
    const issuedAt = Math.floor(clock / 1000);
    const refused = await ask({ keyholder, issuedAt });
    await expectRefused(Promise.resolve(refused), 503, "CHAIN_UNAVAILABLE");
    expect(refused.json.detail).toBe(
      "The keyholder's RPC node's latest block is 120 s old, more than the 60 s allowed: the node has fallen behind the network.",
    );
    await t.testClient.setNextBlockTimestamp({ timestamp: BigInt(issuedAt) });
    await t.testClient.mine({ blocks: 1 });
    await keyholder.putSpec(runId, spec);
    expect((await ask({ keyholder, issuedAt })).status).toBe(200);
    await snapshots.restore();
  });

  it("refuses while the kill switch is engaged, and again releases once governance lifts it", async () => {
    await snapshots.restore();
    await t.engageKillSwitch("keys may have leaked");
    await expectRefused(ask(), 503, "KILL_SWITCH_ENGAGED");
    const { engagementId } = await t.publicClient.readContract({
      address: t.contracts.policyRegistry,
      abi: policyRegistryAbi,
      functionName: "killSwitch",
    });
    await createGovernance(t).pass([registryAction(t, "liftKillSwitch", [engagementId])]);
    expect((await ask()).status).toBe(200);
    await snapshots.restore();
  });

  it("refuses a spec that is not the approved one, and a run whose spec it was never given", async () => {
    const other = encodeRunSpec({
      format: RUN_SPEC_FORMAT,
      chainId: t.deployment.chainId,
      contributorRewards: t.contracts.contributorRewards,
      model: { kind: "embedded", dimensions: 1024, ngrams: 2 },
      submissions: [...listed, unlisted].map(({ manifest, dataHash }) => ({ manifest, dataHash })),
    });
    await expect(t.keyholders[0]!.putSpec(runId, other)).rejects.toMatchObject({ code: "RUN_SPEC_MISMATCH" });
    await snapshots.restore();
    const fresh = await t.approveRun(runSpecHash(other));
    await expectRefused(ask({ run: fresh, submission: unlisted }), 409, "RUN_SPEC_UNKNOWN");
    await t.keyholders[0]!.putSpec(fresh, other);
    expect((await ask({ run: fresh, submission: unlisted })).status).toBe(200);
    await snapshots.restore();
  });

  it("refuses a stale request, a forged manifest and a manifest of another submission", async () => {
    await expectRefused(ask({ issuedAt: Math.floor(Date.now() / 1000) - 3600 }), 401, "SIGNATURE_EXPIRED");
    const honest = new TextDecoder().decode(await collect(t.s.worker.store.get(listed[0]!.manifest)));
    // The manifest comes from the requester: one that does not match its CID is the request's fault.
    await expectRefused(
      ask({ manifestDocument: honest.replace('"version":2', '"version": 2') }),
      400,
      "VALIDATION_FAILED",
    );
    const second = new TextDecoder().decode(await collect(t.s.worker.store.get(listed[1]!.manifest)));
    await expectRefused(ask({ manifestDocument: second }), 400, "VALIDATION_FAILED");
  });

  it("refuses a malformed request before any check (VALIDATION_FAILED)", async () => {
    const response = await fetch(`${(t.keyholders[0] as unknown as { url: string }).url}/v1/shares`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ runId }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { code: string }).code).toBe("VALIDATION_FAILED");
  });
});

describe("keyholder: committee changes", () => {
  it("a committee change by governance takes effect for new submissions; old ones stay with the old committee", async () => {
    await snapshots.restore();
    const newKeys = [generateKeyholderKeyPair(), generateKeyholderKeyPair()];
    await createGovernance(t).pass([
      registryAction(t, "setCommittee", [
        [t.accounts.keyholders[0].account.address, t.accounts.outsider.account.address],
        [toHex(t.s.keyholderKeys[0]!.publicKey), toHex(newKeys[1]!.publicKey)].map((k) => k),
        2,
      ]),
    ]);
    await t.s.worker.policySync.poll();
    const after = await t.submitData(trainingData(2000));
    const before = await t.readManifest(listed[0]!.manifest);
    const manifest = await t.readManifest(after.manifest);
    expect(before.committee.id).toBe("1");
    expect(manifest.committee.id).toBe("2");
    expect(manifest.committee.threshold).toBe(2);
    expect(manifest.committee.shares.map((s) => s.publicKey)).toEqual([
      toHex(t.s.keyholderKeys[0]!.publicKey),
      toHex(newKeys[1]!.publicKey),
    ]);

    const both = encodeRunSpec({
      format: RUN_SPEC_FORMAT,
      chainId: t.deployment.chainId,
      contributorRewards: t.contracts.contributorRewards,
      model: { kind: "embedded", dimensions: 1024, ngrams: 2 },
      submissions: [listed[0]!, after].map(({ manifest: m, dataHash }) => ({ manifest: m, dataHash })),
    });
    const run = await t.approveRun(runSpecHash(both));
    const newKeyholder = await t.startKeyholder(newKeys[1]!.privateKey);
    for (const keyholder of [...t.keyholders, newKeyholder]) await keyholder.putSpec(run, both);

    // A member of the old committee only: no share of the new submission.
    await expectRefused(ask({ run, submission: after, keyholder: 2 }), 409, "KEYHOLDER_NOT_IN_COMMITTEE");
    // The new committee opens the new submission ...
    const shareOfKept = open(await ask({ run, submission: after, keyholder: 0 }));
    t.keyholders.push(newKeyholder);
    const shareOfNew = open(await ask({ run, submission: after, keyholder: 3 }));
    t.keyholders.pop();
    expect(Buffer.from(await decrypt(after, await combineKeyShares([shareOfKept, shareOfNew]))).length).toBe(2000);
    // ... and the old committee still opens the old one.
    const old = [open(await ask({ run, keyholder: 1 })), open(await ask({ run, keyholder: 2 }))];
    expect(Buffer.from(await decrypt(listed[0]!, await combineKeyShares(old))).equals(data[0]!)).toBe(true);
  });
});

describe("keyholder: manifests made under an invalid committee", () => {
  it("releases no share of a manifest whose committee lists its key twice, which would give its holder the data alone (COMMITTEE_INVALID)", async () => {
    await snapshots.restore();
    // What a worker following an older registry, whose committee was [K0, K0, K2], would have
    // written: two of the three shares wrapped to keyholder 0's key.
    const honest = await t.readManifest(listed[0]!.manifest);
    const [first, second, third] = honest.committee.shares;
    const forged = {
      ...honest,
      committee: {
        ...honest.committee,
        shares: [first!, { ...second!, publicKey: first!.publicKey, wrappedShare: first!.wrappedShare }, third!],
      },
    };
    const manifestDocument = JSON.stringify(forged);
    const manifest = (await computeCid([new TextEncoder().encode(manifestDocument)])).toString();
    const doubled = encodeRunSpec({
      format: RUN_SPEC_FORMAT,
      chainId: t.deployment.chainId,
      contributorRewards: t.contracts.contributorRewards,
      model: { kind: "embedded", dimensions: 1024, ngrams: 2 },
      submissions: [{ manifest, dataHash: listed[0]!.dataHash }],
    });
    const run = await t.approveRun(runSpecHash(doubled));
    await t.keyholders[0]!.putSpec(run, doubled);
    const refused = await ask({ run, submission: { ...listed[0]!, manifest }, manifestDocument });
    await expectRefused(Promise.resolve(refused), 503, "COMMITTEE_INVALID");
    expect(refused.json.retryable).toBe(false);
    expect(refused.json.detail).toContain("is listed twice");
    await snapshots.restore();
  });
});
