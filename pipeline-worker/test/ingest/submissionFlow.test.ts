import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  getAddress,
  hexToBigInt,
  numberToHex,
  parseSignature,
  serializeSignature,
  toHex,
  zeroAddress,
  type Address,
  type Hex,
} from "viem";
import { createAttestations, encodeDataAttestation } from "../../../test/helpers/attestations.ts";
import { combineKeyShares } from "../../src/crypto/combineKeyShares.ts";
import { decryptStream } from "../../src/crypto/decryptStream.ts";
import { unwrapKeyShare } from "../../src/crypto/wrapKeyShare.ts";
import { createWorkerSystem, type WorkerSystem } from "../helpers/createWorkerSystem.ts";
import { collect, createSubmitter, hexBytes, sha256, trainingData, type Submitter } from "../helpers/submissions.ts";
import { signOffchainAttestation } from "../../../test/helpers/offchainAttestation.ts";

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

let s: WorkerSystem;

let chainNow: Submitter["chainNow"];
let prepare: Submitter["prepare"];
let post: Submitter["post"];
let put: Submitter["put"];
let submissionsOf: Submitter["submissionsOf"];
let recordedContributor: Submitter["recordedContributor"];

beforeAll(async () => {
  s = await createWorkerSystem({ maxPayloadBytes: 4 * 1024 * 1024 });
  ({ chainNow, prepare, post, put, submissionsOf, recordedContributor } = createSubmitter(s));
});
afterAll(async () => {
  await s?.close();
});

/** Posts and expects a refusal with `code` that left no record, for the contributor or on chain. */
async function expectRefused(
  envelope: unknown,
  code: string,
  contributor: Address = s.accounts.contributor.account.address,
) {
  const before = await submissionsOf(contributor);
  const response = await post(envelope);
  expect(response.type).toContain("application/problem+json");
  expect(response.json.code).toBe(code);
  expect(response.status).toBeGreaterThanOrEqual(400);
  expect(response.json.type).toContain(`#${code.toLowerCase()}`);
  expect(await submissionsOf(contributor)).toEqual(before);
  const dataHash = (envelope as { dataHash?: Hex }).dataHash;
  if (dataHash) expect(await recordedContributor(dataHash)).toBe(zeroAddress);
  return response.json;
}

describe("a submission's full path", () => {
  it("is verified, encrypted to the committee, stored on IPFS, recorded on chain, and only k shares recover it", async () => {
    const { data, envelope } = await prepare({ data: trainingData(600 * 1024) });
    const begun = await post(envelope);
    expect(begun.status).toBe(201);
    expect(begun.json.state).toBe("awaiting_data");
    const id = begun.json.id as string;

    const uploaded = await put(id, data);
    expect(uploaded.status).toBe(202);
    expect(uploaded.json.state).toBe("stored");
    expect(await s.worker.flush()).toBe(1);
    const status = (await (await fetch(`${s.url}/v1/submissions/${id}`)).json()) as Record<string, string>;
    expect(status.state).toBe("recorded");
    expect(status.transactionHash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(getAddress(await recordedContributor(envelope.dataHash))).toBe(
      getAddress(s.accounts.contributor.account.address),
    );
    expect(await submissionsOf(envelope.contributor)).toContainEqual(
      expect.objectContaining({ id, state: "recorded" }),
    );

    // What is on IPFS: a manifest naming the ciphertext and one wrapped share per keyholder.
    const manifestBytes = await collect(s.worker.store.get(status.manifestCid!));
    const manifest = JSON.parse(new TextDecoder().decode(manifestBytes)) as {
      ciphertext: string;
      associatedData: Hex;
      committee: { threshold: number; shares: { member: Address; wrappedShare: Hex }[] };
    };
    expect(manifest.committee.threshold).toBe(2);
    expect(manifest.committee.shares.map((x) => getAddress(x.member))).toEqual(
      s.accounts.keyholders.map((k) => getAddress(k.account.address)),
    );
    const ciphertext = await collect(s.worker.store.get(manifest.ciphertext));
    expect(Buffer.from(ciphertext).includes(Buffer.from(data.subarray(0, 64)))).toBe(false);

    const context = hexBytes(manifest.associatedData);
    const shares = manifest.committee.shares.map((x, i) =>
      unwrapKeyShare(hexBytes(x.wrappedShare), { privateKey: s.keyholderKeys[i]!.privateKey, context }),
    );
    const key = await combineKeyShares([shares[0]!, shares[2]!]);
    const plaintext = await collect(decryptStream([ciphertext], { key, associatedData: context }));
    expect(Buffer.from(plaintext).equals(Buffer.from(data))).toBe(true);

    // Fewer than k shares give a wrong key, which the authenticated encryption refuses.
    const oneShare = await combineKeyShares([shares[1]!]);
    await expect(
      collect(decryptStream([ciphertext], { key: oneShare, associatedData: context })),
    ).rejects.toMatchObject({
      code: "CIPHERTEXT_INVALID",
    });
    // A tampered ciphertext byte fails to decrypt.
    const tampered = Uint8Array.from(ciphertext);
    tampered[tampered.length - 5]! ^= 1;
    await expect(collect(decryptStream([tampered], { key, associatedData: context }))).rejects.toMatchObject({
      code: "CIPHERTEXT_INVALID",
    });
  });

  it("accepts an off-chain EAS attestation verified against the EAS contract's domain", async () => {
    const data = trainingData(2048);
    const dataHash = sha256(data);
    const attestation = await signOffchainAttestation({
      client: s.publicClient,
      eas: s.deployment.contracts.eas,
      chainId: s.deployment.chainId,
      signer: s.accounts.attester2,
      schema: s.deployment.dataSchema.uid,
      recipient: s.accounts.contributor.account.address,
      data: encodeDataAttestation({ dataHash, size: BigInt(data.byteLength) }),
      time: await chainNow(),
    });
    const { envelope } = await prepare({ data, onchain: [] });
    envelope.attestations.offchain = [{ attester: s.accounts.attester2.account.address, attestation }];
    const begun = await post(envelope);
    expect(begun.status).toBe(201);
    // The contract verifies the same off-chain attestation itself when the worker records it.
    expect((await put(begun.json.id as string, data)).json.state).toBe("stored");
    expect(await s.worker.flush()).toBe(1);
    expect(getAddress(await recordedContributor(dataHash))).toBe(getAddress(s.accounts.contributor.account.address));

    // The same attestation claimed by another attester, or altered, is refused.
    const { envelope: forged } = await prepare({ data: randomBytes(10), onchain: [] });
    forged.attestations.offchain = [{ attester: s.accounts.attester.account.address, attestation }];
    await expectRefused(forged, "ATTESTATION_INVALID");
  });
});

describe("refusals: each has its code, and nothing is stored or recorded", () => {
  it("refuses a contributor who is not on the allowlist", async () => {
    const { envelope } = await prepare({ contributor: s.accounts.outsider });
    await expectRefused(envelope, "SUBMITTER_NOT_ALLOWED", s.accounts.outsider.account.address);
  });

  it("refuses a signature by someone else", async () => {
    const { envelope } = await prepare({ signer: s.accounts.outsider });
    await expectRefused(envelope, "SIGNATURE_INVALID");
  });

  it("refuses an expired signature", async () => {
    const { envelope } = await prepare({ deadline: Number(await chainNow()) - 600 });
    await expectRefused(envelope, "SIGNATURE_EXPIRED");
  });

  it("refuses a replayed submission", async () => {
    const { envelope } = await prepare();
    expect((await post(envelope)).status).toBe(201);
    const replay = await post(envelope);
    expect(replay.status).toBe(409);
    expect(replay.json.code).toBe("NONCE_REPLAYED");
  });

  it("refuses a submission for another chain, and a signature made for another chain", async () => {
    const { envelope } = await prepare({ chainId: 1 });
    await expectRefused(envelope, "WRONG_CHAIN");
    const { envelope: signedElsewhere } = await prepare({ domainChainId: 10 });
    await expectRefused(signedElsewhere, "SIGNATURE_INVALID");
  });

  it("refuses a malleable (high-s) copy of a valid signature", async () => {
    const { envelope } = await prepare();
    const { r, s: sValue, yParity } = parseSignature(envelope.signature);
    const highS = numberToHex(SECP256K1_N - hexToBigInt(sValue), { size: 32 });
    const malleable = serializeSignature({ r, s: highS, yParity: yParity === 0 ? 1 : 0 });
    await expectRefused({ ...envelope, signature: malleable }, "SIGNATURE_INVALID");
    expect((await post(envelope)).status).toBe(201);
  });

  it("refuses missing, untrusted, revoked and mismatched attestations", async () => {
    const none = await prepare({ onchain: [] });
    await expectRefused(none.envelope, "ATTESTATION_INSUFFICIENT");
    const untrusted = await prepare({ attesters: [s.accounts.outsider] });
    await expectRefused(untrusted.envelope, "ATTESTATION_INVALID");

    const revoked = await prepare();
    await createAttestations(s).revoke(s.accounts.attester, revoked.envelope.attestations.onchain[0]!);
    await expectRefused(revoked.envelope, "ATTESTATION_INVALID");

    const other = await prepare();
    const mismatched = await prepare({ onchain: other.envelope.attestations.onchain });
    await expectRefused(mismatched.envelope, "ATTESTATION_INVALID");

    const forged = await prepare({ onchain: [toHex(randomBytes(32))] });
    await expectRefused(forged.envelope, "ATTESTATION_INVALID");
  });

  it("refuses data over the size limit before reading it", async () => {
    const { envelope } = await prepare({ data: randomBytes(16), size: 5n * 1024n * 1024n });
    await expectRefused(envelope, "PAYLOAD_TOO_LARGE");
  });

  it("refuses data that was already recorded", async () => {
    const first = await prepare();
    const begun = await post(first.envelope);
    await put(begun.json.id as string, first.data);
    await s.worker.flush();
    const again = await prepare({ data: first.data });
    const response = await post(again.envelope);
    expect(response.json.code).toBe("DUPLICATE_SUBMISSION");
  });

  it("frees data whose submission never got its bytes before the deadline", async () => {
    const { data, envelope } = await prepare({ deadline: Math.floor(Date.now() / 1000) + 1 });
    const abandoned = await post(envelope);
    expect(abandoned.status).toBe(201);
    const again = await prepare({ data });
    expect((await post(again.envelope)).json.code).toBe("DUPLICATE_SUBMISSION");
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    const retried = await post((await prepare({ data })).envelope);
    expect(retried.status).toBe(201);
    const status = (await (await fetch(`${s.url}/v1/submissions/${abandoned.json.id as string}`)).json()) as {
      state: string;
      rejection: { code: string };
    };
    expect(status.state).toBe("rejected");
    expect(status.rejection.code).toBe("SIGNATURE_EXPIRED");
  });

  it("refuses malformed requests with VALIDATION_FAILED", async () => {
    for (const body of ["{not json", JSON.stringify({ contributor: "0x12" }), JSON.stringify([])]) {
      const response = await post(body);
      expect(response.status).toBe(400);
      expect(response.json.code).toBe("VALIDATION_FAILED");
    }
  });

  it("refuses an upload whose bytes differ from what was signed, keeps nothing, and still takes the right bytes", async () => {
    const { data, envelope } = await prepare();
    const begun = await post(envelope);
    const tampered = Uint8Array.from(data);
    tampered[0]! ^= 1;
    const blocks = () => countFiles(path.join(s.dataDir, "ipfs", "blocks"));
    const blocksBefore = blocks();
    const uploaded = await put(begun.json.id as string, tampered);
    expect(blocks()).toBe(blocksBefore);
    expect(uploaded.json.code).toBe("VALIDATION_FAILED");
    const status = (await (await fetch(`${s.url}/v1/submissions/${begun.json.id as string}`)).json()) as Record<
      string,
      unknown
    >;
    expect(status.state).toBe("awaiting_data");
    expect(status.manifestCid).toBeNull();
    await s.worker.flush();
    expect(await recordedContributor(envelope.dataHash)).toBe(zeroAddress);

    const longer = await prepare();
    const begunLonger = await post(longer.envelope);
    const tooLong = await put(begunLonger.json.id as string, Buffer.concat([longer.data, Buffer.from("x")]));
    expect(tooLong.json.code).toBe("PAYLOAD_TOO_LARGE");
    expect(blocks()).toBe(blocksBefore);

    // The contributor's client sends the right bytes after all.
    expect((await put(begun.json.id as string, data)).json.state).toBe("stored");
  });

  it("refuses everything once the guardian engages the kill switch", async () => {
    const { envelope } = await prepare();
    await s.wait(
      await s.accounts.guardian.writeContract({
        address: s.deployment.contracts.policyRegistry,
        abi: (await import("../../../deployments/abis.ts")).policyRegistryAbi,
        functionName: "engageKillSwitch",
        args: ["test: stop ingest"],
      }),
    );
    await s.worker.policySync.poll();
    const json = await expectRefused(envelope, "KILL_SWITCH_ENGAGED");
    expect(json.detail).toContain("test: stop ingest");
  });
});

function countFiles(directory: string): number {
  return readdirSync(directory, { withFileTypes: true, recursive: true }).filter((entry) => entry.isFile()).length;
}
