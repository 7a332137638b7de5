// What an attester does with EAS, in one framework-free module that the worker, the `npm run
// attest` CLI and the governance UI's Attest and Contribute pages share (exported as
// `@dao-ai/pipeline-worker/attestations`): the data schema's encoding, on-chain attestations and
// their revocation, and EAS version-2 off-chain attestations in the EAS SDK's JSON format with
// their revocation. It needs only viem: a viem WalletClient signs, whether it holds a private key
// (the CLI) or talks to a browser wallet (the UI).
//
// Off-chain attestations are signed with viem rather than with the EAS SDK's `Offchain` class: the
// SDK signs only through an ethers v6 signer, and its ESM build does not load in Node (see
// checkAttestations.ts). What is signed is the SDK's version-2 typed data exactly (domain, types,
// message, UID), so the SDK's verifier, which the worker runs, accepts it
// (pipeline-worker/test/ingest/dataAttestations.test.ts checks both with the SDK).
import type { SignedOffchainAttestation } from "@ethereum-attestation-service/eas-sdk";
import {
  decodeAbiParameters,
  encodeAbiParameters,
  getAddress,
  isAddress,
  isHex,
  parseAbiParameters,
  parseEventLogs,
  parseSignature,
  recoverTypedDataAddress,
  toHex,
  zeroHash,
  type AbiParameter,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { z } from "zod";
import { easAbi, schemaRegistryAbi } from "../abis.ts";
import { BaseError } from "../internal/BaseError.ts";
import { offchainAttestationUID } from "./offchainAttestationUID.ts";

// Its functions throw BaseError: callers outside the package tell a refusal from a bug by it.
export { BaseError };

/**
 * The fields every data schema starts with, in this order: ContributorRewards and the worker read
 * an attestation's data as (bytes32 dataHash, uint64 size, ...) whatever follows.
 */
export const DATA_ATTESTATION_PREFIX = [
  { name: "dataHash", type: "bytes32" },
  { name: "size", type: "uint64" },
] as const;

/** A field of a data schema after the prefix (licence, provenance...), filled in as text. */
export type DataSchemaField = { name: string; type: string };

/**
 * The fields of a data schema (an EAS schema definition such as "bytes32 dataHash,uint64
 * size,string license,string provenance") that an attester fills in besides the data's hash and
 * size. Refuses a schema the worker could not read, or one with a field that cannot be typed in.
 */
export function dataSchemaFields(definition: string): DataSchemaField[] {
  let parameters: readonly AbiParameter[];
  try {
    parameters = parseAbiParameters(definition);
  } catch (cause) {
    throw new BaseError(`The schema "${definition}" is not an EAS schema definition.`, { cause });
  }
  const [first, second, ...rest] = parameters;
  if (first?.type !== "bytes32" || second?.type !== "uint64") {
    throw new BaseError(`The schema "${definition}" does not start with (bytes32 dataHash, uint64 size).`, {
      hints: ["The worker and ContributorRewards read the data's hash and size from the first two fields."],
    });
  }
  return rest.map((p, i) => {
    if (!/^(string|bool|address|bytes\d*|u?int\d*)$/.test(p.type)) {
      throw new BaseError(`The schema's field ${p.name ?? i + 2} is a ${p.type}, which cannot be typed in.`);
    }
    return { name: p.name ?? `field${i + 2}`, type: p.type };
  });
}

export type EncodeDataAttestationParameters = {
  /** The schema's definition, as the SchemaRegistry holds it. */
  definition: string;
  /** SHA-256 of the data, as the worker computes it. */
  dataHash: Hex;
  /** The data's size in bytes. */
  size: bigint;
  /** The other fields by name, as text; every one the schema has is required. */
  fields?: Record<string, string>;
};

/** Encodes an attestation's data in the data schema, each text field converted to its type. */
export function encodeDataAttestation({ definition, dataHash, size, fields = {} }: EncodeDataAttestationParameters) {
  if (!isHex(dataHash) || dataHash.length !== 66) {
    throw new BaseError(`The data hash ${dataHash} is not 32 bytes of hex.`, {
      hints: ["Give the data's SHA-256 as 0x followed by 64 hex digits (the Contribute page shows it)."],
    });
  }
  if (size <= 0n || size >= 2n ** 64n) throw new BaseError(`The size ${size} is not a positive uint64.`);
  const extra = dataSchemaFields(definition).map(({ name, type }) => {
    const text = fields[name];
    if (text === undefined) {
      throw new BaseError(`The schema's field "${name}" (${type}) is missing.`, {
        hints: [`The schema is "${definition}": give a value for each field after dataHash and size.`],
      });
    }
    return fieldValue(name, type, text);
  });
  return encodeAbiParameters(parseAbiParameters(definition), [dataHash, size, ...extra]);
}

function fieldValue(name: string, type: string, text: string): unknown {
  const bad = (what: string) => new BaseError(`The field "${name}" must be ${what}; got "${text}".`);
  if (type === "string") return text;
  if (type === "bool") {
    if (text !== "true" && text !== "false") throw bad("true or false");
    return text === "true";
  }
  if (type === "address") {
    if (!isAddress(text)) throw bad("an address");
    return text;
  }
  if (type.startsWith("bytes")) {
    const bytes = Number(type.slice(5) || 0);
    if (!isHex(text) || (bytes > 0 && text.length !== 2 + bytes * 2))
      throw bad(`${bytes || "any number of"} bytes of hex`);
    return text;
  }
  if (!/^-?\d+$/.test(text)) throw bad("a whole number");
  return BigInt(text);
}

/** The data hash and size an attestation's data names, read as ContributorRewards reads them. */
export function decodeDataAttestation(data: Hex): { dataHash: Hex; size: bigint } {
  const [dataHash, size] = decodeAbiParameters(DATA_ATTESTATION_PREFIX, data);
  return { dataHash, size };
}

/** Every field of an attestation's data, as text, for showing it to a person. */
export function describeDataAttestation(definition: string, data: Hex): { name: string; value: string }[] {
  const parameters = parseAbiParameters(definition);
  const values = decodeAbiParameters(parameters, data);
  return parameters.map((p, i) => ({ name: p.name ?? `field${i}`, value: String(values[i]) }));
}

/** The definition of a schema registered on EAS, so the attester encodes exactly what the policy requires. */
export async function readSchemaDefinition(publicClient: PublicClient, schemaRegistry: Address, schema: Hex) {
  const record = await publicClient.readContract({
    address: schemaRegistry,
    abi: schemaRegistryAbi,
    functionName: "getSchema",
    args: [schema],
  });
  if (record.uid === zeroHash) {
    throw new BaseError(`The schema ${schema} is not registered on this chain's EAS.`, {
      hints: ["Check that the manifest and the RPC endpoint are of the same chain."],
    });
  }
  return record.schema;
}

/** A wallet that signs as one account: a viem WalletClient with a key (CLI) or a browser wallet (UI). */
export type AttesterWallet = WalletClient<Transport, Chain | undefined, Account>;

export type AttestOnchainParameters = {
  wallet: AttesterWallet;
  publicClient: PublicClient;
  eas: Address;
  schema: Hex;
  /** The contributor the data is attested to. */
  recipient: Address;
  /** From `encodeDataAttestation`. */
  data: Hex;
  /** Unix seconds; 0 never expires. */
  expirationTime?: bigint;
};

/** Attests on EAS (revocable, so the attester can withdraw it) and waits for it; returns its UID. */
export async function attestOnchain(p: AttestOnchainParameters): Promise<{ uid: Hex; transactionHash: Hex }> {
  const transactionHash = await p.wallet.writeContract({
    address: p.eas,
    abi: easAbi,
    functionName: "attest",
    chain: p.wallet.chain,
    args: [
      {
        schema: p.schema,
        data: {
          recipient: p.recipient,
          expirationTime: p.expirationTime ?? 0n,
          revocable: true,
          refUID: zeroHash,
          data: p.data,
          value: 0n,
        },
      },
    ],
  });
  const receipt = await p.publicClient.waitForTransactionReceipt({ hash: transactionHash });
  const [attested] = parseEventLogs({ abi: easAbi, eventName: "Attested", logs: receipt.logs });
  if (receipt.status !== "success" || !attested) {
    throw new BaseError(`The attestation transaction ${transactionHash} failed.`);
  }
  return { uid: attested.args.uid, transactionHash };
}

export type RevokeOnchainParameters = {
  wallet: AttesterWallet;
  publicClient: PublicClient;
  eas: Address;
  uid: Hex;
};

/** Revokes an on-chain attestation the wallet made; EAS refuses anyone else. */
export async function revokeOnchain(p: RevokeOnchainParameters): Promise<{ transactionHash: Hex }> {
  const attestation = await p.publicClient.readContract({
    address: p.eas,
    abi: easAbi,
    functionName: "getAttestation",
    args: [p.uid],
  });
  if (attestation.uid === zeroHash) {
    throw new BaseError(`There is no on-chain attestation ${p.uid} on this chain's EAS.`, {
      hints: [
        "For an off-chain attestation, revoke it with its file, or its UID with --offchain (CLI), or from the Attest page.",
      ],
    });
  }
  if (getAddress(attestation.attester) !== getAddress(p.wallet.account.address)) {
    throw new BaseError(`Attestation ${p.uid} was made by ${attestation.attester}, not ${p.wallet.account.address}.`, {
      hints: ["Only its attester can revoke it."],
    });
  }
  if (attestation.revocationTime !== 0n) throw new BaseError(`Attestation ${p.uid} is already revoked.`);
  const transactionHash = await p.wallet.writeContract({
    address: p.eas,
    abi: easAbi,
    functionName: "revoke",
    chain: p.wallet.chain,
    args: [{ schema: attestation.schema, data: { uid: p.uid, value: 0n } }],
  });
  await waitForSuccess(p.publicClient, transactionHash);
  return { transactionHash };
}

/** The EIP-712 types of an EAS version-2 off-chain attestation, as the EAS SDK signs and verifies them. */
export const OFFCHAIN_ATTEST_TYPES = {
  Attest: [
    { name: "version", type: "uint16" },
    { name: "schema", type: "bytes32" },
    { name: "recipient", type: "address" },
    { name: "time", type: "uint64" },
    { name: "expirationTime", type: "uint64" },
    { name: "revocable", type: "bool" },
    { name: "refUID", type: "bytes32" },
    { name: "data", type: "bytes" },
    { name: "salt", type: "bytes32" },
  ],
} as const;

const hexOf = (bytes?: number) =>
  z.string().regex(bytes === undefined ? /^0x([0-9a-fA-F]{2})*$/ : new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`));
const uint = z.union([z.string().regex(/^\d{1,20}$/), z.number().int().nonnegative()]);

/** An off-chain attestation as the EAS SDK's `signOffchainAttestation` returns it, sent as JSON. */
export const signedOffchainAttestationSchema = z.object({
  version: z.literal(2),
  uid: hexOf(32),
  domain: z.object({
    name: z.literal("EAS Attestation"),
    version: z.string(),
    chainId: uint,
    verifyingContract: hexOf(20),
  }),
  primaryType: z.literal("Attest"),
  types: z.object({ Attest: z.array(z.object({ name: z.string(), type: z.string() })) }),
  message: z.object({
    version: z.literal(2),
    schema: hexOf(32),
    recipient: hexOf(20),
    time: uint,
    expirationTime: uint,
    revocable: z.boolean(),
    refUID: hexOf(32),
    data: hexOf(),
    salt: hexOf(32),
  }),
  signature: z.object({ r: hexOf(32), s: hexOf(32), v: z.number().int() }),
});

/** An off-chain attestation with the attester it is from: one item of a submission's `attestations.offchain`. */
export type OffchainAttestation = { attester: Address; attestation: SignedOffchainAttestation };

/**
 * What a contributor may attach: this system's `{ attester, attestation }`, or the EAS SDK's
 * shareable package `{ sig, signer }` (what EAS tools export).
 */
const attachedSchema = z.union([
  z.object({ attester: hexOf(20), attestation: signedOffchainAttestationSchema }),
  z.object({ signer: hexOf(20), sig: signedOffchainAttestationSchema }),
]);

/**
 * Reads an off-chain attestation from JSON (text or parsed) into a submission's envelope item.
 * Checks its shape only; `inspectOffchainAttestation` reads what it says and who signed it.
 */
export function parseOffchainAttestation(json: string | unknown): OffchainAttestation {
  let value: unknown = json;
  if (typeof json === "string") {
    try {
      value = JSON.parse(json);
    } catch (cause) {
      throw new BaseError("The off-chain attestation is not JSON.", {
        cause,
        hints: ["Paste the whole file the attester gave you (it starts with {)."],
      });
    }
  }
  const parsed = attachedSchema.safeParse(value);
  if (!parsed.success) {
    throw new BaseError("This is not an EAS version-2 off-chain attestation.", {
      details: z.prettifyError(parsed.error),
      hints: [
        'Expected { "attester", "attestation" } as the Attest page and `npm run attest` write it, or EAS\'s { "sig", "signer" }.',
      ],
    });
  }
  const item = "sig" in parsed.data ? { attester: parsed.data.signer, attestation: parsed.data.sig } : parsed.data;
  return {
    attester: getAddress(item.attester),
    attestation: item.attestation as unknown as SignedOffchainAttestation,
  };
}

/** What an off-chain attestation says, and whether its signature and UID are the attester's. */
export type InspectedOffchainAttestation = {
  /** Its UID as ContributorRewards computes it (the schema in lower case): the one to revoke. */
  uid: Hex;
  attester: Address;
  /** Whether the attester signed exactly these fields. */
  signatureValid: boolean;
  /** Whether its UID is the one its fields give (under some spelling of the schema). */
  uidValid: boolean;
  chainId: number;
  eas: Address;
  schema: Hex;
  recipient: Address;
  time: bigint;
  expirationTime: bigint;
  dataHash: Hex | null;
  size: bigint | null;
};

/** Reads an off-chain attestation and checks its signature (EIP-712 recovery, as the SDK's verifier does). */
export async function inspectOffchainAttestation({
  attester,
  attestation,
}: OffchainAttestation): Promise<InspectedOffchainAttestation> {
  const a = signedOffchainAttestationSchema.parse(attestation);
  const m = a.message;
  const uid = offchainAttestationUID({ ...m, schema: m.schema.toLowerCase() });
  const given = a.uid.toLowerCase();
  const uidValid = [m.schema, m.schema.toLowerCase(), `0x${m.schema.slice(2).toUpperCase()}`].some(
    (schema) => offchainAttestationUID({ ...m, schema }) === given,
  );
  let signatureValid = false;
  try {
    const signer = await recoverTypedDataAddress({
      domain: { ...a.domain, chainId: BigInt(a.domain.chainId), verifyingContract: a.domain.verifyingContract as Hex },
      types: OFFCHAIN_ATTEST_TYPES,
      primaryType: "Attest",
      message: {
        ...m,
        schema: m.schema as Hex,
        recipient: m.recipient as Address,
        time: BigInt(m.time),
        expirationTime: BigInt(m.expirationTime),
        refUID: m.refUID as Hex,
        data: m.data as Hex,
        salt: m.salt as Hex,
      },
      signature: { r: a.signature.r as Hex, s: a.signature.s as Hex, v: BigInt(a.signature.v) },
    });
    signatureValid =
      getAddress(signer) === getAddress(attester) && JSON.stringify(a.types) === JSON.stringify(OFFCHAIN_ATTEST_TYPES);
  } catch {
    signatureValid = false;
  }
  let decoded: { dataHash: Hex; size: bigint } | null = null;
  try {
    decoded = decodeDataAttestation(m.data as Hex);
  } catch {
    decoded = null;
  }
  return {
    uid,
    attester: getAddress(attester),
    signatureValid,
    uidValid,
    chainId: Number(a.domain.chainId),
    eas: getAddress(a.domain.verifyingContract),
    schema: m.schema.toLowerCase() as Hex,
    recipient: getAddress(m.recipient),
    time: BigInt(m.time),
    expirationTime: BigInt(m.expirationTime),
    dataHash: decoded?.dataHash ?? null,
    size: decoded?.size ?? null,
  };
}

export type SignOffchainParameters = {
  wallet: AttesterWallet;
  publicClient: PublicClient;
  eas: Address;
  schema: Hex;
  recipient: Address;
  data: Hex;
  /** Unix seconds; 0 never expires. */
  expirationTime?: bigint;
};

/**
 * Signs an EAS version-2 off-chain attestation with the wallet (EIP-712, in the EAS contract's
 * domain on this chain), timed by the chain's clock, as the contract and the worker judge its age.
 * Returns it as JSON carries it (numbers as decimal strings), ready to attach to a submission.
 */
export async function signOffchainAttestation(p: SignOffchainParameters): Promise<OffchainAttestation> {
  const [version, chainId, block] = await Promise.all([
    p.publicClient.readContract({ address: p.eas, abi: easAbi, functionName: "version" }),
    p.publicClient.getChainId(),
    p.publicClient.getBlock(),
  ]);
  const domain = { name: "EAS Attestation", version, chainId: BigInt(chainId), verifyingContract: getAddress(p.eas) };
  const message = {
    version: 2,
    // Lower case, the spelling ContributorRewards hashes into the UID: the UID this returns is
    // the one the chain and the worker name it by, and the one a revocation must name.
    schema: p.schema.toLowerCase() as Hex,
    recipient: getAddress(p.recipient),
    time: block.timestamp,
    expirationTime: p.expirationTime ?? 0n,
    revocable: true,
    refUID: zeroHash,
    data: p.data,
    salt: toHex(crypto.getRandomValues(new Uint8Array(32))),
  };
  const signature = parseSignature(
    await p.wallet.signTypedData({
      account: p.wallet.account,
      domain,
      types: OFFCHAIN_ATTEST_TYPES,
      primaryType: "Attest",
      message,
    }),
  );
  const attestation = JSON.parse(
    JSON.stringify(
      {
        version: 2,
        uid: offchainAttestationUID(message),
        domain,
        primaryType: "Attest",
        types: OFFCHAIN_ATTEST_TYPES,
        message,
        signature: { r: signature.r, s: signature.s, v: Number(signature.v ?? BigInt(27 + (signature.yParity ?? 0))) },
      },
      (_key, value: unknown) => (typeof value === "bigint" ? value.toString() : value),
    ),
  ) as SignedOffchainAttestation;
  const signed = { attester: getAddress(p.wallet.account.address), attestation };
  // A wallet may sign with another account than the one it reports: catch it here, not at the worker.
  if (!(await inspectOffchainAttestation(signed)).signatureValid) {
    throw new BaseError("The wallet's signature is not from the account it reports.", {
      hints: ["Switch the wallet to the attester's account and sign again."],
    });
  }
  return signed;
}

/** The JSON text of an off-chain attestation, as the Attest page offers it and the CLI writes it. */
export function offchainAttestationJson(attestation: OffchainAttestation): string {
  return `${JSON.stringify(attestation, null, 2)}\n`;
}

export type RevokeOffchainParameters = {
  wallet: AttesterWallet;
  publicClient: PublicClient;
  eas: Address;
  /** The off-chain attestation's UID (`inspectOffchainAttestation(...).uid`). */
  uid: Hex;
};

/**
 * Revokes an off-chain attestation: EAS records, on chain, that this attester revoked this UID
 * (`revokeOffchain`); the worker and ContributorRewards refuse it from then on.
 */
export async function revokeOffchain(p: RevokeOffchainParameters): Promise<{ transactionHash: Hex }> {
  const already = await offchainRevocationTime(p.publicClient, p.eas, p.wallet.account.address, p.uid);
  if (already !== 0n) throw new BaseError(`Off-chain attestation ${p.uid} is already revoked.`);
  const transactionHash = await p.wallet.writeContract({
    address: p.eas,
    abi: easAbi,
    functionName: "revokeOffchain",
    chain: p.wallet.chain,
    args: [p.uid],
  });
  await waitForSuccess(p.publicClient, transactionHash);
  return { transactionHash };
}

/** When `attester` revoked the off-chain attestation `uid` (unix seconds), or 0 if it did not. */
export function offchainRevocationTime(publicClient: PublicClient, eas: Address, attester: Address, uid: Hex) {
  return publicClient.readContract({
    address: eas,
    abi: easAbi,
    functionName: "getRevokeOffchain",
    args: [attester, uid],
  });
}

async function waitForSuccess(publicClient: PublicClient, hash: Hex) {
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== "success") throw new BaseError(`Transaction ${hash} reverted.`);
  return receipt;
}
