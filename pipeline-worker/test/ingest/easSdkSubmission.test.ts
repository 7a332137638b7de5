import { createRequire } from "node:module";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getAddress, zeroHash, type Hex } from "viem";
import { DEV_ROLES, devPrivateKey } from "../../../scripts/lib/stack/devAccounts.ts";
import { encodeDataAttestation } from "../../../test/helpers/attestations.ts";
import type { OffchainAttestation } from "../../src/ingest/checkAttestations.ts";
import { createWorkerSystem, type WorkerSystem } from "../helpers/createWorkerSystem.ts";
import { createSubmitter, sha256, trainingData, type Submitter } from "../helpers/submissions.ts";

// An outside attester uses the EAS SDK as EAS documents it: `new EAS(address)` with the address as
// EAS publishes it (checksummed), an ethers v6 signer, `getOffchain().signOffchainAttestation(...)`.
// The contributor sends that attestation in a submission. The worker's verdict must not depend on
// the letter case the client gave the EAS address in.

const sdkRequire = createRequire(createRequire(import.meta.url).resolve("@ethereum-attestation-service/eas-sdk"));
const sdk = sdkRequire(
  "@ethereum-attestation-service/eas-sdk",
) as typeof import("@ethereum-attestation-service/eas-sdk");
// The repository's own `ethers` is v5 (a dependency of another package); the SDK needs v6.
const ethers = sdkRequire(
  "ethers",
) as typeof import("../../../node_modules/@ethereum-attestation-service/eas-sdk/node_modules/ethers/lib.commonjs/index.js");

let s: WorkerSystem;
let submitter: Submitter;

beforeAll(async () => {
  s = await createWorkerSystem();
  submitter = createSubmitter(s);
});
afterAll(async () => {
  await s?.close();
});

async function signWithSdk(easAddress: string, dataHash: Hex, size: bigint): Promise<OffchainAttestation> {
  const provider = new ethers.BrowserProvider(s.connection.provider as never);
  const signer = new ethers.Wallet(devPrivateKey(DEV_ROLES.attester), provider);
  const eas = new sdk.EAS(easAddress);
  eas.connect(signer);
  const signed = await (
    await eas.getOffchain()
  ).signOffchainAttestation(
    {
      schema: s.deployment.dataSchema.uid,
      recipient: s.accounts.contributor.account.address,
      time: await submitter.chainNow(),
      expirationTime: 0n,
      revocable: true,
      refUID: zeroHash,
      data: encodeDataAttestation({ dataHash, size }),
    },
    signer,
  );
  // As it travels in JSON.
  const attestation = JSON.parse(
    JSON.stringify(signed, (_key, value: unknown) => (typeof value === "bigint" ? value.toString() : value)),
  ) as OffchainAttestation["attestation"];
  return { attester: signer.address as Hex, attestation };
}

describe("POST /v1/submissions with an off-chain attestation made by the EAS SDK", () => {
  for (const [spelling, spell] of [
    ["checksummed", (a: string) => getAddress(a)],
    ["lower-case", (a: string) => a.toLowerCase()],
  ] as const) {
    it(`accepts it when the attester gave the SDK the EAS address ${spelling}`, async () => {
      const data = trainingData(2048);
      const dataHash = sha256(data);
      const offchain = await signWithSdk(spell(s.deployment.contracts.eas), dataHash, BigInt(data.byteLength));
      expect(offchain.attestation.domain.verifyingContract).toBe(spell(s.deployment.contracts.eas));
      const { envelope } = await submitter.prepare({ data, onchain: [] });
      envelope.attestations.offchain = [offchain];
      const begun = await submitter.post(envelope);
      expect(begun.json.code, JSON.stringify(begun.json)).toBeUndefined();
      expect(begun.status).toBe(201);
    });
  }

  it("still refuses an SDK attestation whose signed fields were altered, with ATTESTATION_INVALID", async () => {
    const data = trainingData(2048);
    const dataHash = sha256(data);
    const offchain = await signWithSdk(getAddress(s.deployment.contracts.eas), dataHash, BigInt(data.byteLength));
    offchain.attestation.message.time = (BigInt(offchain.attestation.message.time) - 1n).toString() as never;
    const { envelope } = await submitter.prepare({ data, onchain: [] });
    envelope.attestations.offchain = [offchain];
    const refused = await submitter.post(envelope);
    expect(refused.status).toBe(422);
    expect(refused.json.code).toBe("ATTESTATION_INVALID");
  });
});
