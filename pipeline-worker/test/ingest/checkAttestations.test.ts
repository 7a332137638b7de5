import { createRequire } from "node:module";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { getAddress, zeroHash, type Address, type Hex, type PublicClient } from "viem";
import { devPrivateKey, DEV_ROLES } from "../../../scripts/lib/stack/devAccounts.ts";
import { encodeDataAttestation, randomDataHash } from "../../../test/helpers/attestations.ts";
import { createSnapshots } from "../../../test/helpers/snapshots.ts";
import { createSystem, type System } from "../../../test/helpers/system.ts";
import {
  checkAttestations,
  type AttestationRequirement,
  type SubmissionAttestations,
} from "../../src/ingest/checkAttestations.ts";
import { offchainAttestationUID } from "../../src/ingest/offchainAttestationUID.ts";
import { WorkerError } from "../../src/internal/WorkerError.ts";

// Attestations made as an outside attester makes them: with the EAS SDK itself and an ethers v6
// signer (the SDK's own dependency, not the repository's older ethers), against the real EAS on the
// local chain. The worker must accept them however the client spells the EAS address, and must
// never miss a revocation because of how a hex string is spelt.

const sdkRequire = createRequire(createRequire(import.meta.url).resolve("@ethereum-attestation-service/eas-sdk"));
const sdk = sdkRequire(
  "@ethereum-attestation-service/eas-sdk",
) as typeof import("@ethereum-attestation-service/eas-sdk");
// The repository's own `ethers` is v5 (a dependency of another package); the SDK needs v6.
const ethers = sdkRequire(
  "ethers",
) as typeof import("../../../node_modules/@ethereum-attestation-service/eas-sdk/node_modules/ethers/lib.commonjs/index.js");

let system: System;
let snapshots: ReturnType<typeof createSnapshots>;
let provider: InstanceType<typeof ethers.BrowserProvider>;
const SIZE = 4096n;

beforeAll(async () => {
  system = await createSystem();
  provider = new ethers.BrowserProvider(system.connection.provider as never);
  snapshots = createSnapshots(system.testClient);
  await snapshots.save();
});
beforeEach(() => snapshots.restore());

/** The attester's ethers wallet, as its own tooling holds it. */
function attesterSigner() {
  return new ethers.Wallet(devPrivateKey(DEV_ROLES.attester), provider);
}

/** The EAS SDK bound to the system's EAS, with the address spelt as the client chooses. */
function easAs(spelling: "checksummed" | "lower-case") {
  const address = system.deployment.contracts.eas;
  const eas = new sdk.EAS(spelling === "checksummed" ? getAddress(address) : address.toLowerCase());
  eas.connect(attesterSigner());
  return eas;
}

function requirement(overrides: Partial<AttestationRequirement> = {}): AttestationRequirement {
  return {
    schemaUID: system.deployment.dataSchema.uid,
    attesters: [system.accounts.attester.account.address],
    minAttestations: 1,
    maxAge: 0n,
    ...overrides,
  };
}

async function check(
  dataHash: Hex,
  attestations: Partial<SubmissionAttestations>,
  options: { eas?: Address; contributor?: Address; requirement?: AttestationRequirement } = {},
) {
  const now = (await system.publicClient.getBlock()).timestamp;
  return checkAttestations({
    client: system.publicClient as PublicClient,
    eas: options.eas ?? system.deployment.contracts.eas,
    chainId: system.deployment.chainId,
    contributor: options.contributor ?? system.accounts.contributor.account.address,
    dataHash,
    size: SIZE,
    attestations: { onchain: [], offchain: [], ...attestations },
    requirement: options.requirement ?? requirement(),
    now,
  });
}

/** Signs an off-chain attestation of `dataHash` to the contributor with the EAS SDK, as JSON sends it. */
async function signWithSdk(
  dataHash: Hex,
  options: { spelling?: "checksummed" | "lower-case"; schema?: string; refUID?: string } = {},
) {
  const offchain = await easAs(options.spelling ?? "checksummed").getOffchain();
  const signed = await offchain.signOffchainAttestation(
    {
      schema: options.schema ?? system.deployment.dataSchema.uid,
      recipient: system.accounts.contributor.account.address,
      time: BigInt((await system.publicClient.getBlock()).timestamp),
      expirationTime: 0n,
      revocable: true,
      refUID: options.refUID ?? zeroHash,
      data: encodeDataAttestation({ dataHash, size: SIZE }),
    },
    attesterSigner(),
  );
  return JSON.parse(
    JSON.stringify(signed, (_key, value: unknown) => (typeof value === "bigint" ? value.toString() : value)),
  ) as typeof signed;
}

async function expectInvalid(promise: Promise<unknown>, reason: RegExp) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkerError);
  expect((error as WorkerError).code).toBe("ATTESTATION_INVALID");
  expect(String((error as WorkerError).extra?.reason)).toMatch(reason);
}

/** The hex string with its letters in upper case, "0x" kept: a spelling some tools print. */
const upper = (hex: string) => `0x${hex.slice(2).toUpperCase()}`;

describe("attestations made with the EAS SDK", () => {
  for (const clientSpelling of ["checksummed", "lower-case"] as const) {
    for (const workerSpelling of ["checksummed", "lower-case"] as const) {
      it(`accepts an off-chain attestation signed with the EAS address ${clientSpelling} when the worker's manifest has it ${workerSpelling}`, async () => {
        const dataHash = randomDataHash();
        const attestation = await signWithSdk(dataHash, { spelling: clientSpelling });
        const eas = system.deployment.contracts.eas;
        const checked = await check(
          dataHash,
          { offchain: [{ attester: system.accounts.attester.account.address, attestation }] },
          { eas: workerSpelling === "checksummed" ? getAddress(eas) : (eas.toLowerCase() as Address) },
        );
        expect(checked).toEqual([
          { kind: "offchain", uid: attestation.uid, attester: getAddress(system.accounts.attester.account.address) },
        ]);
      });
    }
  }

  it("accepts an on-chain attestation made with the EAS SDK, however its UID, the schema, the contributor and the EAS address are spelt", async () => {
    const dataHash = randomDataHash();
    const tx = await easAs("checksummed").attest({
      schema: system.deployment.dataSchema.uid,
      data: {
        recipient: system.accounts.contributor.account.address,
        expirationTime: 0n,
        revocable: true,
        data: encodeDataAttestation({ dataHash, size: SIZE }),
      },
    });
    const uid = (await tx.wait()) as Hex;
    const contributor = system.accounts.contributor.account.address;
    const eas = system.deployment.contracts.eas;
    for (const spelt of [
      { uid, eas: getAddress(eas), contributor, schema: system.deployment.dataSchema.uid },
      {
        uid: upper(uid) as Hex,
        eas: eas.toLowerCase() as Address,
        contributor: contributor.toLowerCase() as Address,
        schema: upper(system.deployment.dataSchema.uid) as Hex,
      },
    ]) {
      const checked = await check(
        dataHash,
        { onchain: [spelt.uid] },
        { eas: spelt.eas, contributor: spelt.contributor, requirement: requirement({ schemaUID: spelt.schema }) },
      );
      expect(checked).toEqual([
        { kind: "onchain", uid: uid.toLowerCase(), attester: getAddress(system.accounts.attester.account.address) },
      ]);
    }
  });

  it("still refuses an SDK attestation signed for another EAS contract, however it is spelt", async () => {
    const dataHash = randomDataHash();
    const other = new sdk.EAS(getAddress(system.deployment.contracts.schemaRegistry));
    other.connect(attesterSigner());
    const offchain = await new sdk.Offchain(
      {
        address: getAddress(system.deployment.contracts.schemaRegistry),
        version: "1.4.0",
        chainId: BigInt(system.deployment.chainId),
      },
      sdk.OffchainAttestationVersion.Version2,
      other,
    ).signOffchainAttestation(
      {
        schema: system.deployment.dataSchema.uid,
        recipient: system.accounts.contributor.account.address,
        time: BigInt((await system.publicClient.getBlock()).timestamp),
        expirationTime: 0n,
        revocable: true,
        refUID: zeroHash,
        data: encodeDataAttestation({ dataHash, size: SIZE }),
      },
      attesterSigner(),
    );
    const attestation = JSON.parse(
      JSON.stringify(offchain, (_key, value: unknown) => (typeof value === "bigint" ? value.toString() : value)),
    ) as typeof offchain;
    await expectInvalid(
      check(dataHash, { offchain: [{ attester: system.accounts.attester.account.address, attestation }] }),
      /signature or UID/,
    );
  });
});

describe("off-chain attestation UIDs", () => {
  const fields = () => ({
    schema: system.deployment.dataSchema.uid as string,
    recipient: system.accounts.contributor.account.address as string,
    time: 1_700_000_000n,
    expirationTime: 0n,
    revocable: true,
    refUID: `0x${"ab".repeat(32)}`,
    data: encodeDataAttestation({ dataHash: `0x${"cd".repeat(32)}`, size: SIZE }) as string,
    salt: `0x${"ef".repeat(32)}`,
  });
  const sdkUID = (f: ReturnType<typeof fields>) =>
    sdk.Offchain.getOffchainUID(
      sdk.OffchainAttestationVersion.Version2,
      f.schema,
      f.recipient,
      f.time,
      f.expirationTime,
      f.revocable,
      f.refUID,
      f.data,
      f.salt,
    );

  it("are the EAS SDK's UIDs for every spelling of the schema, the recipient and the reference", () => {
    const base = fields();
    const spellings = [
      base,
      { ...base, recipient: base.recipient.toLowerCase() },
      { ...base, recipient: getAddress(base.recipient) },
      { ...base, refUID: upper(base.refUID) },
      { ...base, salt: upper(base.salt), data: upper(base.data) },
      { ...base, schema: upper(base.schema) },
      { ...base, schema: `0x${base.schema.slice(2, 10).toUpperCase()}${base.schema.slice(10)}` },
    ];
    for (const f of spellings) expect(offchainAttestationUID(f)).toBe(sdkUID(f));
    // EAS hashes the schema as the text it was given: the same attestation has another UID when its
    // schema is spelt in upper case, which is why the worker checks revocation under both.
    expect(sdkUID({ ...base, schema: upper(base.schema) })).not.toBe(sdkUID(base));
    // The address and bytes32 fields are hashed as bytes: their spelling never changes the UID.
    expect(new Set(spellings.slice(0, 5).map(sdkUID)).size).toBe(1);
  });

  it("a contributor cannot evade the attester's revocation by re-spelling the schema in upper case", async () => {
    const dataHash = randomDataHash();
    const attestation = await signWithSdk(dataHash);
    // The attester revokes the UID its SDK gave it.
    await (await easAs("checksummed").revokeOffchain(attestation.uid)).wait();
    const attester = system.accounts.attester.account.address;
    await expectInvalid(check(dataHash, { offchain: [{ attester, attestation }] }), /revoked/);

    // The UID is not signed: the contributor re-spells the schema and recomputes it. The signature
    // still holds (a bytes32 has no letter case), and the new UID was never revoked.
    const schema = upper(attestation.message.schema);
    const respelt = {
      ...attestation,
      message: { ...attestation.message, schema },
      uid: offchainAttestationUID({ ...attestation.message, schema }),
    };
    expect(respelt.uid).not.toBe(attestation.uid);
    await expectInvalid(check(dataHash, { offchain: [{ attester, attestation: respelt }] }), /revoked/);
  });

  it("a contributor cannot evade a revocation of an upper-case-schema attestation by re-spelling it in lower case", async () => {
    const dataHash = randomDataHash();
    const attestation = await signWithSdk(dataHash, { schema: upper(system.deployment.dataSchema.uid) });
    await (await easAs("lower-case").revokeOffchain(attestation.uid)).wait();
    const attester = system.accounts.attester.account.address;
    await expectInvalid(check(dataHash, { offchain: [{ attester, attestation }] }), /revoked/);

    const schema = attestation.message.schema.toLowerCase();
    const respelt = {
      ...attestation,
      message: { ...attestation.message, schema },
      uid: offchainAttestationUID({ ...attestation.message, schema }),
    };
    await expectInvalid(check(dataHash, { offchain: [{ attester, attestation: respelt }] }), /revoked/);
  });

  it("names an attestation by the UID the contract computes (the schema in lower case), whatever its spelling", async () => {
    const dataHash = randomDataHash();
    const attestation = await signWithSdk(dataHash, { schema: upper(system.deployment.dataSchema.uid) });
    const canonical = offchainAttestationUID({
      ...attestation.message,
      schema: attestation.message.schema.toLowerCase(),
    });
    expect(canonical).not.toBe(attestation.uid);
    const checked = await check(dataHash, {
      offchain: [{ attester: system.accounts.attester.account.address, attestation }],
    });
    expect(checked.map((c) => c.uid)).toEqual([canonical]);
  });
});
