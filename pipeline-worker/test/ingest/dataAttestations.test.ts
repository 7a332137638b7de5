import { createRequire } from "node:module";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { getAddress, type Hex, type PublicClient } from "viem";
import { contributorRewardsAbi } from "@dao-ai/pipeline-worker/abis";
import {
  attestOnchain,
  BaseError,
  dataSchemaFields,
  describeDataAttestation,
  encodeDataAttestation,
  inspectOffchainAttestation,
  offchainAttestationJson,
  parseOffchainAttestation,
  readSchemaDefinition,
  revokeOffchain,
  revokeOnchain,
  signOffchainAttestation,
  type AttesterWallet,
  type OffchainAttestation,
} from "@dao-ai/pipeline-worker/attestations";
import { randomDataHash } from "../../../test/helpers/attestations.ts";
import { createGovernance, ingestPolicyActions } from "../../../test/helpers/governance.ts";
import { expectRevert } from "../../../test/helpers/revert.ts";
import { createSnapshots } from "../../../test/helpers/snapshots.ts";
import { createSystem, type System } from "../../../test/helpers/system.ts";
import { checkAttestations, type SubmissionAttestations } from "../../src/ingest/checkAttestations.ts";
import { contributionInput } from "../../src/ingest/createContributionRecorder.ts";
import type { SubmissionEnvelope } from "../../src/api/submissionWire.ts";
import { WorkerError } from "../../src/internal/WorkerError.ts";

// The attester's module (what `npm run attest` and the UI's Attest page run) against the real EAS on
// a local chain: what it issues, on chain and off chain, must be what the worker's checks and
// ContributorRewards accept, and what it revokes must be refused by both. The off-chain
// attestations are also judged by the EAS SDK's own verifier, the one outside tools use.

const sdk = createRequire(import.meta.url)(
  "@ethereum-attestation-service/eas-sdk",
) as typeof import("@ethereum-attestation-service/eas-sdk");

let system: System;
let snapshots: ReturnType<typeof createSnapshots>;
let definition: string;
const SIZE = 4096n;
const FIELDS = { license: "CC-BY-4.0", provenance: "reviewed by the attester" };

beforeAll(async () => {
  system = await createSystem();
  await system.delegateAll();
  await createGovernance(system).pass(ingestPolicyActions(system));
  definition = await readSchemaDefinition(
    system.publicClient,
    system.deployment.contracts.schemaRegistry,
    system.deployment.dataSchema.uid,
  );
  snapshots = createSnapshots(system.testClient);
  await snapshots.save();
});
beforeEach(() => snapshots.restore());

const attester = () => system.accounts.attester as unknown as AttesterWallet;
const contributor = () => system.accounts.contributor.account.address;

/** What the module takes to attest `dataHash` to the contributor in the policy's schema. */
function request(dataHash: Hex, wallet: AttesterWallet = attester()) {
  return {
    wallet,
    publicClient: system.publicClient,
    eas: system.deployment.contracts.eas,
    schema: system.deployment.dataSchema.uid,
    recipient: contributor(),
    data: encodeDataAttestation({ definition, dataHash, size: SIZE, fields: FIELDS }),
  };
}

async function check(dataHash: Hex, attestations: Partial<SubmissionAttestations>) {
  return checkAttestations({
    client: system.publicClient as PublicClient,
    eas: system.deployment.contracts.eas,
    chainId: system.deployment.chainId,
    contributor: contributor(),
    dataHash,
    size: SIZE,
    attestations: { onchain: [], offchain: [], ...attestations },
    requirement: {
      schemaUID: system.deployment.dataSchema.uid,
      attesters: [system.accounts.attester.account.address],
      minAttestations: 1,
      maxAge: 3600n,
    },
    now: (await system.publicClient.getBlock()).timestamp,
  });
}

/** Records the contribution as the worker does, from the envelope's attestations. */
function record(dataHash: Hex, attestations: SubmissionEnvelope["attestations"]) {
  const envelope = { contributor: contributor(), dataHash, size: SIZE.toString(), attestations } as SubmissionEnvelope;
  return system.accounts.worker.writeContract({
    address: system.deployment.contracts.contributorRewards,
    abi: contributorRewardsAbi,
    functionName: "recordContributions",
    args: [[contributionInput(envelope, 1n)]],
  });
}

async function recordedBy(dataHash: Hex) {
  const c = await system.publicClient.readContract({
    address: system.deployment.contracts.contributorRewards,
    abi: contributorRewardsAbi,
    functionName: "contributionOf",
    args: [dataHash],
  });
  return getAddress(c.contributor);
}

async function expectWorkerRefusal(promise: Promise<unknown>, code: string, reason?: RegExp) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkerError);
  expect((error as WorkerError).code).toBe(code);
  if (reason) expect(String((error as WorkerError).extra?.reason)).toMatch(reason);
}

/** As a contributor receives it: the JSON text the Attest page offers and the CLI writes. */
const asReceived = (signed: OffchainAttestation) => parseOffchainAttestation(offchainAttestationJson(signed));

describe("on-chain attestations from the attester's module", () => {
  it("are accepted by the worker's checks and recorded by ContributorRewards", async () => {
    const dataHash = randomDataHash();
    const { uid } = await attestOnchain(request(dataHash));
    expect(await check(dataHash, { onchain: [uid] })).toEqual([
      { kind: "onchain", uid, attester: getAddress(system.accounts.attester.account.address) },
    ]);
    await system.wait(await record(dataHash, { onchain: [uid], offchain: [] }));
    expect(await recordedBy(dataHash)).toBe(getAddress(contributor()));
  });

  it("once revoked, are refused by the worker and by ContributorRewards", async () => {
    const dataHash = randomDataHash();
    const { uid } = await attestOnchain(request(dataHash));
    await revokeOnchain({ ...request(dataHash), uid });
    await expectWorkerRefusal(check(dataHash, { onchain: [uid] }), "ATTESTATION_INVALID", /revoked/);
    await expectRevert(record(dataHash, { onchain: [uid], offchain: [] }), "RewardsAttestationRevoked");
  });

  it("can be revoked only by their attester, and only once", async () => {
    const dataHash = randomDataHash();
    const { uid } = await attestOnchain(request(dataHash));
    const outsider = system.accounts.outsider as unknown as AttesterWallet;
    await expect(revokeOnchain({ ...request(dataHash, outsider), uid })).rejects.toThrow(/was made by .*, not /);
    await revokeOnchain({ ...request(dataHash), uid });
    await expect(revokeOnchain({ ...request(dataHash), uid })).rejects.toThrow(/already revoked/);
    await expect(revokeOnchain({ ...request(dataHash), uid: randomDataHash() })).rejects.toThrow(
      /no on-chain attestation/,
    );
  });
});

describe("off-chain attestations from the attester's module", () => {
  it("are EAS SDK version-2 attestations: the SDK's verifier and UID agree", async () => {
    const dataHash = randomDataHash();
    const signed = asReceived(await signOffchainAttestation(request(dataHash)));
    const { domain, message } = signed.attestation;
    const verifier = new sdk.Offchain(
      { address: domain.verifyingContract, version: domain.version, chainId: BigInt(domain.chainId) },
      sdk.OffchainAttestationVersion.Version2,
      undefined as never,
    );
    expect(verifier.verifyOffchainAttestationSignature(signed.attester, signed.attestation)).toBe(true);
    const sdkUID = sdk.Offchain.getOffchainUID(
      2,
      message.schema,
      message.recipient,
      BigInt(message.time),
      BigInt(message.expirationTime),
      message.revocable,
      message.refUID,
      message.data,
      message.salt,
    );
    expect(signed.attestation.uid).toBe(sdkUID);
    const inspected = await inspectOffchainAttestation(signed);
    expect(inspected).toMatchObject({
      uid: sdkUID,
      attester: getAddress(system.accounts.attester.account.address),
      signatureValid: true,
      uidValid: true,
      chainId: system.deployment.chainId,
      recipient: getAddress(contributor()),
      dataHash,
      size: SIZE,
    });
    expect(describeDataAttestation(definition, message.data as Hex)).toEqual([
      { name: "dataHash", value: dataHash },
      { name: "size", value: SIZE.toString() },
      { name: "license", value: FIELDS.license },
      { name: "provenance", value: FIELDS.provenance },
    ]);
  });

  it("are accepted by the worker's checks and recorded by ContributorRewards", async () => {
    const dataHash = randomDataHash();
    const signed = asReceived(await signOffchainAttestation(request(dataHash)));
    const [checked] = await check(dataHash, { offchain: [signed] });
    expect(checked).toMatchObject({ kind: "offchain", uid: signed.attestation.uid });
    await system.wait(await record(dataHash, { onchain: [], offchain: [signed] }));
    expect(await recordedBy(dataHash)).toBe(getAddress(contributor()));
  });

  it("once revoked with revokeOffchain, are refused by the worker and by ContributorRewards", async () => {
    const dataHash = randomDataHash();
    const signed = asReceived(await signOffchainAttestation(request(dataHash)));
    const { uid } = await inspectOffchainAttestation(signed);
    await revokeOffchain({ ...request(dataHash), uid });
    await expectWorkerRefusal(check(dataHash, { offchain: [signed] }), "ATTESTATION_INVALID", /revoked/);
    await expectRevert(record(dataHash, { onchain: [], offchain: [signed] }), "RewardsAttestationRevoked");
    await expect(revokeOffchain({ ...request(dataHash), uid })).rejects.toThrow(/already revoked/);
  });

  it("are read from EAS's own shareable package ({ sig, signer }) too", async () => {
    const signed = await signOffchainAttestation(request(randomDataHash()));
    const pkg = JSON.stringify({ sig: signed.attestation, signer: signed.attester.toLowerCase() });
    expect(parseOffchainAttestation(pkg)).toEqual(signed);
  });

  it("show a forgery: fields altered after signing, or signed by someone else in the attester's name", async () => {
    const signed = asReceived(await signOffchainAttestation(request(randomDataHash())));
    const altered = structuredClone(signed);
    altered.attestation.message.data = encodeDataAttestation({
      definition,
      dataHash: randomDataHash(),
      size: SIZE,
      fields: FIELDS,
    });
    expect((await inspectOffchainAttestation(altered)).signatureValid).toBe(false);
    const impostor = { ...signed, attester: getAddress(system.accounts.outsider.account.address) };
    expect((await inspectOffchainAttestation(impostor)).signatureValid).toBe(false);
  });
});

describe("the data schema's encoding", () => {
  it("needs every field of the schema, each of its type", () => {
    const dataHash = randomDataHash();
    expect(dataSchemaFields(definition)).toEqual([
      { name: "license", type: "string" },
      { name: "provenance", type: "string" },
    ]);
    expect(() => encodeDataAttestation({ definition, dataHash, size: SIZE, fields: { license: "MIT" } })).toThrow(
      /field "provenance" \(string\) is missing/,
    );
    expect(() =>
      encodeDataAttestation({ definition: "bytes32 h,uint64 s,bool ok", dataHash, size: SIZE, fields: { ok: "yes" } }),
    ).toThrow(/must be true or false/);
    expect(() => encodeDataAttestation({ definition, dataHash: "0x1234", size: SIZE, fields: FIELDS })).toThrow(
      /not 32 bytes of hex/,
    );
  });

  it("refuses a schema the worker could not read the data's hash and size from", () => {
    expect(() => dataSchemaFields("string license,bytes32 dataHash,uint64 size")).toThrow(BaseError);
    expect(() => dataSchemaFields("string license,bytes32 dataHash,uint64 size")).toThrow(
      /does not start with \(bytes32 dataHash, uint64 size\)/,
    );
  });

  it("refuses what is not an off-chain attestation, saying what was expected", () => {
    expect(() => parseOffchainAttestation("not json")).toThrow(/not JSON/);
    expect(() => parseOffchainAttestation({ attester: "0x1", attestation: {} })).toThrow(
      /not an EAS version-2 off-chain attestation/,
    );
  });
});
