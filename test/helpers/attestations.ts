import {
  encodeAbiParameters,
  keccak256,
  parseAbiParameters,
  parseEventLogs,
  toHex,
  zeroAddress,
  zeroHash,
  type Address,
  type Hex,
} from "viem";
import { easAbi, schemaRegistryAbi } from "../../deployments/abis.ts";
import { DATA_SCHEMA, schemaUID } from "../../scripts/lib/deploy/deploySystem.ts";
import type { System, Wallet } from "./system.ts";

/** The data schema's fields, as an attester encodes them. */
export type DataAttestation = { dataHash: Hex; size: bigint; license?: string; provenance?: string };

/** Encodes a training-data attestation's payload in the deployed data schema. */
export function encodeDataAttestation({
  dataHash,
  size,
  license = "CC-BY-4.0",
  provenance = "test",
}: DataAttestation): Hex {
  return encodeAbiParameters(parseAbiParameters(DATA_SCHEMA), [dataHash, size, license, provenance]);
}

let counter = 0;

/** A fresh data hash for each contribution, so no two tests collide (a duplicate is refused). */
export function randomDataHash(): Hex {
  return keccak256(toHex(`data ${++counter} ${Math.random()}`));
}

export type AttestParameters = {
  attester: Wallet;
  recipient: Address;
  /** The data schema's payload, or raw bytes to attest something malformed. */
  data: DataAttestation | Hex;
  /** Defaults to the system's data schema. */
  schema?: Hex;
  /** 0: never expires. */
  expirationTime?: bigint;
};

/**
 * Attestations on the real EAS the system deployed, made by real accounts: what an attester does
 * off chain before a worker records a contribution.
 */
export function createAttestations(system: System) {
  const { deployment, wait } = system;
  const { eas, schemaRegistry } = deployment.contracts;

  /** Registers a schema on EAS (no resolver, revocable) and returns its UID. */
  async function registerSchema(definition: string, from: Wallet = system.accounts.outsider): Promise<Hex> {
    await wait(
      await from.writeContract({
        address: schemaRegistry,
        abi: schemaRegistryAbi,
        functionName: "register",
        args: [definition, zeroAddress, true],
      }),
    );
    return schemaUID(definition);
  }

  /** Attests on chain and returns the new attestation's UID. */
  async function attest({ attester, recipient, data, schema, expirationTime = 0n }: AttestParameters): Promise<Hex> {
    const payload = typeof data === "string" ? data : encodeDataAttestation(data);
    const receipt = await wait(
      await attester.writeContract({
        address: eas,
        abi: easAbi,
        functionName: "attest",
        args: [
          {
            schema: schema ?? deployment.dataSchema.uid,
            data: { recipient, expirationTime, revocable: true, refUID: zeroHash, data: payload, value: 0n },
          },
        ],
      }),
    );
    const [attested] = parseEventLogs({ abi: easAbi, eventName: "Attested", logs: receipt.logs });
    if (!attested) throw new Error("EAS emitted no Attested event");
    return attested.args.uid;
  }

  async function revoke(attester: Wallet, uid: Hex, schema: Hex = deployment.dataSchema.uid) {
    return wait(
      await attester.writeContract({
        address: eas,
        abi: easAbi,
        functionName: "revoke",
        args: [{ schema, data: { uid, value: 0n } }],
      }),
    );
  }

  return { registerSchema, attest, revoke };
}
