import { createRequire } from "node:module";
import { parseSignature, toHex, type Address, type Hex, type PublicClient } from "viem";
import { OFFCHAIN_ATTEST_TYPES } from "@dao-ai/pipeline-worker/attestations";
import { easAbi } from "../../deployments/abis.ts";
import type { Wallet } from "./system.ts";
import type { OffchainAttestation } from "@dao-ai/pipeline-worker/attestations";

// The SDK's CommonJS build (its ESM build does not load in Node; see checkAttestations.ts).
export const { Offchain, OffchainAttestationVersion } = createRequire(import.meta.url)(
  "@ethereum-attestation-service/eas-sdk",
) as typeof import("@ethereum-attestation-service/eas-sdk");

export type SignOffchainParameters = {
  client: PublicClient;
  eas: Address;
  chainId: number;
  signer: Wallet;
  schema: Hex;
  recipient: Address;
  data: Hex;
  time: bigint;
  expirationTime?: bigint;
};

/**
 * An EAS version-2 off-chain attestation, signed the way the EAS SDK signs one (same domain,
 * types and UID), with viem instead of an ethers signer, in the JSON form a client sends.
 */
export async function signOffchainAttestation(p: SignOffchainParameters): Promise<OffchainAttestation["attestation"]> {
  const version = await p.client.readContract({ address: p.eas, abi: easAbi, functionName: "version" });
  const domain = { name: "EAS Attestation", version, chainId: BigInt(p.chainId), verifyingContract: p.eas };
  const salt = toHex(crypto.getRandomValues(new Uint8Array(32)));
  const message = {
    version: 2,
    schema: p.schema,
    recipient: p.recipient,
    time: p.time,
    expirationTime: p.expirationTime ?? 0n,
    revocable: true,
    refUID: `0x${"00".repeat(32)}` as Hex,
    data: p.data,
    salt,
  };
  const signature = parseSignature(
    await p.signer.signTypedData({ domain, types: OFFCHAIN_ATTEST_TYPES, primaryType: "Attest", message }),
  );
  const uid = Offchain.getOffchainUID(
    OffchainAttestationVersion.Version2,
    message.schema,
    message.recipient,
    message.time,
    message.expirationTime,
    message.revocable,
    message.refUID,
    message.data,
    message.salt,
  );
  // As it travels in JSON: numbers as decimal strings.
  return JSON.parse(
    JSON.stringify(
      {
        version: 2,
        uid,
        domain: { ...domain, chainId: domain.chainId },
        primaryType: "Attest",
        types: OFFCHAIN_ATTEST_TYPES,
        message,
        signature: { r: signature.r, s: signature.s, v: Number(signature.v) },
      },
      (_key, value: unknown) => (typeof value === "bigint" ? value.toString() : value),
    ),
  ) as OffchainAttestation["attestation"];
}
