import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { getAddress, serializeSignature, type Address, type Hex } from "viem";
import { contributorRewardsAbi, easAbi } from "../../deployments/abis.ts";
import { encodeDataAttestation, randomDataHash } from "../helpers/attestations.ts";
import { createGovernance, ingestPolicyActions } from "../helpers/governance.ts";
import { offchainAttestationUID } from "@dao-ai/pipeline-worker/offchainAttestationUID";
import { Offchain, OffchainAttestationVersion, signOffchainAttestation } from "../helpers/offchainAttestation.ts";
import { expectRevert } from "../helpers/revert.ts";
import { createSnapshots } from "../helpers/snapshots.ts";
import { createSystem, type System, type Wallet } from "../helpers/system.ts";

// EAS off-chain attestations (version 2, as the EAS SDK signs them) are verified by the contract
// itself: the attester's EIP-712 signature in EAS's domain, and revocation on EAS. A worker
// cannot forge one any more than it can forge an on-chain attestation.

let system: System;
let snapshots: ReturnType<typeof createSnapshots>;
const SIZE = 4096n;

beforeAll(async () => {
  system = await createSystem();
  await system.delegateAll();
  await createGovernance(system).pass(ingestPolicyActions(system));
  snapshots = createSnapshots(system.testClient);
  await snapshots.save();
});
beforeEach(() => snapshots.restore());

async function now(): Promise<bigint> {
  return (await system.publicClient.getBlock()).timestamp;
}

/** An off-chain attestation by `signer`, claimed to be by `attester`, as the contract takes it. */
async function offchain(options: {
  dataHash: Hex;
  signer?: Wallet;
  attester?: Wallet;
  chainId?: number;
  time?: bigint;
}) {
  const signer = options.signer ?? system.accounts.attester;
  const attestation = await signOffchainAttestation({
    client: system.publicClient,
    eas: system.deployment.contracts.eas,
    chainId: options.chainId ?? system.deployment.chainId,
    signer,
    schema: system.deployment.dataSchema.uid,
    recipient: system.accounts.contributor.account.address,
    data: encodeDataAttestation({ dataHash: options.dataHash, size: SIZE }),
    time: options.time ?? (await now()),
  });
  const m = attestation.message;
  const sig = attestation.signature as { r: Hex; s: Hex; v: number };
  return {
    uid: attestation.uid as Hex,
    input: {
      attester: (options.attester ?? signer).account.address,
      schema: m.schema as Hex,
      recipient: m.recipient as Address,
      time: BigInt(m.time),
      expirationTime: BigInt(m.expirationTime),
      revocable: m.revocable,
      refUID: m.refUID as Hex,
      data: m.data as Hex,
      salt: m.salt as Hex,
      signature: serializeSignature({ r: sig.r, s: sig.s, v: BigInt(sig.v) }),
    },
  };
}

function record(dataHash: Hex, attestations: Awaited<ReturnType<typeof offchain>>["input"][]) {
  return system.accounts.worker.writeContract({
    address: system.deployment.contracts.contributorRewards,
    abi: contributorRewardsAbi,
    functionName: "recordContributions",
    args: [
      [
        {
          contributor: system.accounts.contributor.account.address,
          dataHash,
          size: SIZE,
          weight: 1n,
          attestationUIDs: [],
          offchainAttestations: attestations,
        },
      ],
    ],
  });
}

async function recorded(dataHash: Hex): Promise<Address> {
  const c = await system.publicClient.readContract({
    address: system.deployment.contracts.contributorRewards,
    abi: contributorRewardsAbi,
    functionName: "contributionOf",
    args: [dataHash],
  });
  return getAddress(c.contributor);
}

describe("ContributorRewards with off-chain EAS attestations", () => {
  it("records a contribution backed by a valid off-chain attestation", async () => {
    const dataHash = randomDataHash();
    const { input } = await offchain({ dataHash });
    await system.wait(await record(dataHash, [input]));
    expect(await recorded(dataHash)).toBe(getAddress(system.accounts.contributor.account.address));
  });

  it("refuses one signed by someone else in the attester's name", async () => {
    const dataHash = randomDataHash();
    const { input, uid } = await offchain({
      dataHash,
      signer: system.accounts.outsider,
      attester: system.accounts.attester,
    });
    await expectRevert(record(dataHash, [input]), "RewardsAttestationBadSignature", [uid, input.attester]);
  });

  it("names an off-chain attestation by the UID the worker and the EAS SDK give it (the schema in lower case)", async () => {
    const dataHash = randomDataHash();
    const { input } = await offchain({
      dataHash,
      signer: system.accounts.outsider,
      attester: system.accounts.attester,
    });
    // Spelt as a client may send them: the contract sees bytes, so only the schema's text matters to EAS.
    const spelt = {
      ...input,
      recipient: input.recipient.toLowerCase() as Address,
      refUID: `0x${"AB".repeat(32)}` as Hex,
    };
    const lower = { ...spelt, schema: spelt.schema.toLowerCase() };
    const ours = offchainAttestationUID(lower);
    const sdkUID = (schema: string) =>
      Offchain.getOffchainUID(
        OffchainAttestationVersion.Version2,
        schema,
        getAddress(spelt.recipient),
        spelt.time,
        spelt.expirationTime,
        spelt.revocable,
        spelt.refUID,
        spelt.data,
        spelt.salt,
      );
    expect(ours).toBe(sdkUID(lower.schema));
    expect(offchainAttestationUID({ ...spelt, schema: `0x${spelt.schema.slice(2).toUpperCase()}` })).toBe(
      sdkUID(`0x${spelt.schema.slice(2).toUpperCase()}`),
    );
    await expectRevert(record(dataHash, [spelt]), "RewardsAttestationBadSignature", [ours, input.attester]);
  });

  it("refuses one signed for another chain", async () => {
    const dataHash = randomDataHash();
    const { input, uid } = await offchain({ dataHash, chainId: 1 });
    await expectRevert(record(dataHash, [input]), "RewardsAttestationBadSignature", [uid, input.attester]);
  });

  it("refuses one whose fields were altered after signing", async () => {
    const dataHash = randomDataHash();
    const { input } = await offchain({ dataHash: randomDataHash() });
    const altered = { ...input, data: encodeDataAttestation({ dataHash, size: SIZE }) };
    await expectRevert(record(dataHash, [altered]), "RewardsAttestationBadSignature");
  });

  it("refuses one the attester revoked on EAS", async () => {
    const dataHash = randomDataHash();
    const { input, uid } = await offchain({ dataHash });
    await system.wait(
      await system.accounts.attester.writeContract({
        address: system.deployment.contracts.eas,
        abi: easAbi,
        functionName: "revokeOffchain",
        args: [uid],
      }),
    );
    await expectRevert(record(dataHash, [input]), "RewardsAttestationRevoked");
  });

  it("refuses one dated in the future or older than the policy's maximum age", async () => {
    const dataHash = randomDataHash();
    const future = await offchain({ dataHash, time: (await now()) + 600n });
    await expectRevert(record(dataHash, [future.input]), "RewardsAttestationTooOld");
    const old = await offchain({ dataHash, time: (await now()) - 7200n });
    await expectRevert(record(dataHash, [old.input]), "RewardsAttestationTooOld");
    expect(await recorded(dataHash)).toBe("0x0000000000000000000000000000000000000000");
  });
});
