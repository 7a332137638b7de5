import { createRequire } from "node:module";
import type { EAS, SignedOffchainAttestation } from "@ethereum-attestation-service/eas-sdk";
import { getAddress, zeroHash, type Address, type Hex, type PublicClient } from "viem";
import { easAbi } from "../abis.ts";
import { WorkerError } from "../internal/WorkerError.ts";
import { decodeDataAttestation, type OffchainAttestation } from "./dataAttestations.ts";
import { offchainAttestationUID } from "./offchainAttestationUID.ts";

// The EAS SDK's ESM build imports lodash by named export, which Node's ESM loader refuses; its
// CommonJS build loads fine.
const { Offchain, OffchainAttestationVersion } = createRequire(import.meta.url)(
  "@ethereum-attestation-service/eas-sdk",
) as typeof import("@ethereum-attestation-service/eas-sdk");
type Offchain = InstanceType<typeof Offchain>;

/** What the policy requires of a contribution's attestations (PolicyRegistry.attestationRequirement). */
export type AttestationRequirement = {
  schemaUID: Hex;
  attesters: readonly Address[];
  minAttestations: number;
  /** Seconds; 0 means no limit. */
  maxAge: bigint;
};

export type { OffchainAttestation };

/** The attestations a submission carries: on-chain UIDs, and off-chain EIP-712 attestations made with the EAS SDK. */
export type SubmissionAttestations = {
  onchain: readonly Hex[];
  offchain: readonly OffchainAttestation[];
};

export type CheckAttestationsParameters = {
  client: PublicClient;
  eas: Address;
  chainId: number;
  contributor: Address;
  dataHash: Hex;
  size: bigint;
  attestations: SubmissionAttestations;
  requirement: AttestationRequirement;
  /** Unix seconds; injected so tests can move time. */
  now: bigint;
};

export type CheckedAttestation = { kind: "onchain" | "offchain"; uid: Hex; attester: Address };

/** The fields every attestation is checked on, whichever kind it is. */
type AttestationFacts = {
  uid: Hex;
  schema: Hex;
  attester: Address;
  recipient: Address;
  time: bigint;
  expirationTime: bigint;
  revoked: boolean;
  data: Hex;
};

/**
 * Checks a submission's attestations against the policy, as ContributorRewards does on chain:
 * every attestation given must be valid (an invalid one is refused, not ignored, so the sender
 * learns of it), and enough distinct trusted attesters must have attested this exact data hash and
 * size to this contributor. Off-chain attestations are verified with the EAS SDK against the EAS
 * contract's EIP-712 domain whatever the letter case of the address they were signed with, and
 * their revocation is read from EAS (`getRevokeOffchain`) under each UID they may be known by.
 */
export async function checkAttestations(params: CheckAttestationsParameters): Promise<CheckedAttestation[]> {
  const { client, eas, requirement } = params;
  const total = params.attestations.onchain.length + params.attestations.offchain.length;
  if (total === 0) {
    throw new WorkerError("ATTESTATION_INSUFFICIENT", "The submission carries no attestation.", {
      hints: [`The policy needs ${requirement.minAttestations} from its trusted attesters.`],
      extra: { required: requirement.minAttestations, distinctAttesters: 0 },
    });
  }
  const facts: AttestationFacts[] = [];
  for (const given of params.attestations.onchain) {
    // A UID is 32 bytes: however the client spelt it, it is named in lower case from here on.
    const uid = given.toLowerCase() as Hex;
    const a = await client.readContract({ address: eas, abi: easAbi, functionName: "getAttestation", args: [uid] });
    if (a.uid === zeroHash) invalid(uid, "no such attestation on EAS (forged or on another chain)");
    facts.push({
      uid,
      schema: a.schema,
      attester: a.attester,
      recipient: a.recipient,
      time: a.time,
      expirationTime: a.expirationTime,
      revoked: a.revocationTime !== 0n,
      data: a.data,
    });
  }
  if (params.attestations.offchain.length > 0) {
    const version = await client.readContract({ address: eas, abi: easAbi, functionName: "version" });
    // The EAS instance is only used when signing with on-chain simulation, never to verify.
    // Checksummed, as the attestations' domains are normalised below: the SDK compares the signed
    // domain with this one as exact strings.
    const verifier = new Offchain(
      { address: getAddress(eas), version, chainId: BigInt(params.chainId) },
      OffchainAttestationVersion.Version2,
      undefined as unknown as EAS,
    );
    for (const attestation of params.attestations.offchain) {
      facts.push(await offchainFacts(client, eas, verifier, attestation));
    }
  }

  const trusted = new Set(requirement.attesters.map((a) => getAddress(a)));
  const checked: CheckedAttestation[] = [];
  for (const [i, f] of facts.entries()) {
    if (f.schema.toLowerCase() !== requirement.schemaUID.toLowerCase())
      invalid(f.uid, `uses schema ${f.schema}, the policy requires ${requirement.schemaUID}`);
    if (!trusted.has(getAddress(f.attester))) invalid(f.uid, `attester ${f.attester} is not trusted by the policy`);
    if (f.revoked) invalid(f.uid, "it was revoked");
    if (f.expirationTime !== 0n && f.expirationTime <= params.now) invalid(f.uid, "it has expired");
    if (requirement.maxAge !== 0n && params.now - f.time > requirement.maxAge)
      invalid(f.uid, `it is older than the policy's maximum age of ${requirement.maxAge} s`);
    if (getAddress(f.recipient) !== getAddress(params.contributor))
      invalid(f.uid, `it is about ${f.recipient}, not the contributor`);
    const [dataHash, size] = decodeData(f);
    if (dataHash.toLowerCase() !== params.dataHash.toLowerCase() || size !== params.size)
      invalid(f.uid, "it attests other data (its hash or size differ)");
    checked.push({
      kind: i < params.attestations.onchain.length ? "onchain" : "offchain",
      uid: f.uid,
      attester: getAddress(f.attester),
    });
  }
  const distinct = new Set(checked.map((c) => c.attester)).size;
  if (distinct < requirement.minAttestations) {
    throw new WorkerError(
      "ATTESTATION_INSUFFICIENT",
      `${distinct} distinct trusted attester(s) attested this data; the policy needs ${requirement.minAttestations}.`,
      {
        hints: ["Ask more of the policy's trusted attesters to attest the data's hash and size to you."],
        extra: { required: requirement.minAttestations, distinctAttesters: distinct },
      },
    );
  }
  return checked;
}

async function offchainFacts(
  client: PublicClient,
  eas: Address,
  verifier: Offchain,
  { attester, attestation }: OffchainAttestation,
): Promise<AttestationFacts> {
  const m = attestation.message;
  const given = (typeof attestation.uid === "string" ? attestation.uid : zeroHash) as Hex;
  const signer = getAddress(attester);
  const uids = uidsOf(given, m);
  let valid = false;
  try {
    valid = verifier.verifyOffchainAttestationSignature(signer, normalised(attestation));
  } catch {
    valid = false;
  }
  if (!valid)
    invalid(given, "its signature or UID is not the attester's, or it was signed for another chain or EAS contract");
  // The UID is not signed and EAS derives it from the schema's spelling (see offchainAttestationUID):
  // the attester may have revoked it under the spelling it signed with, the one the contract checks
  // (lower case) or the upper-case one some tools print, and whoever sends it may have re-spelt it.
  // A revocation under any of them refuses it.
  let revoked = false;
  for (const uid of uids) {
    const revokedAt = await client.readContract({
      address: eas,
      abi: easAbi,
      functionName: "getRevokeOffchain",
      args: [signer, uid],
    });
    revoked ||= revokedAt !== 0n;
  }
  return {
    // Named as ContributorRewards names it, so the worker and the chain speak of the same UID.
    uid: uids[0]!,
    schema: m.schema as Hex,
    attester: signer,
    recipient: m.recipient as Address,
    time: BigInt(m.time),
    expirationTime: BigInt(m.expirationTime),
    revoked,
    data: m.data as Hex,
  };
}

/**
 * The UIDs an off-chain attestation may be known by: first the one ContributorRewards computes
 * (the schema in lower case), then the upper-case spelling and the spelling it was sent with.
 */
function uidsOf(given: Hex, m: SignedOffchainAttestation["message"]): Hex[] {
  const schema = String(m.schema);
  if (!/^0x[0-9a-fA-F]{64}$/.test(schema)) invalid(given, "its schema is not a 32-byte hex string");
  const spellings = new Set([schema.toLowerCase(), `0x${schema.slice(2).toUpperCase()}`, schema]);
  return [...spellings].map((spelt) => offchainAttestationUID({ ...m, schema: spelt }));
}

/**
 * The attestation as the EAS SDK's verifier needs it to judge only what was signed: the SDK
 * compares the signed domain's `verifyingContract` with its own configuration as exact strings
 * (lodash `isEqual`), so an attestation signed with `new EAS(checksummedAddress)` would fail
 * against a lower-case configuration, though an address's letter case is not part of what
 * EIP-712 signs. Both sides are checksummed; the UID is compared in lower case, as keccak256
 * prints it.
 */
function normalised(attestation: SignedOffchainAttestation): SignedOffchainAttestation {
  const domain = attestation.domain;
  return {
    ...attestation,
    uid: String(attestation.uid).toLowerCase(),
    domain: { ...domain, verifyingContract: getAddress(domain.verifyingContract) },
  };
}

function decodeData(f: AttestationFacts): [Hex, bigint] {
  try {
    const { dataHash, size } = decodeDataAttestation(f.data);
    return [dataHash, size];
  } catch {
    invalid(f.uid, "its data does not start with (bytes32 dataHash, uint64 size)");
  }
}

function invalid(uid: Hex, why: string): never {
  throw new WorkerError("ATTESTATION_INVALID", `Attestation ${uid} is not acceptable: ${why}.`, {
    hints: ["Remove it, or have a trusted attester attest this data's hash and size to you with the policy's schema."],
    extra: { attestation: uid, reason: why },
  });
}
