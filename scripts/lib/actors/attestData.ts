import {
  encodeAbiParameters,
  parseAbiParameters,
  parseEventLogs,
  zeroHash,
  type Address,
  type Hex,
  type PublicClient,
} from "viem";
import { easAbi } from "../../../deployments/abis.ts";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import type { Wallet } from "./createGovernanceDriver.ts";
import { DATA_SCHEMA } from "../deploy/deploySystem.ts";

export type AttestDataParameters = {
  publicClient: PublicClient;
  attester: Wallet;
  eas: Address;
  schemaUID: Hex;
  /** The contributor the attestation is about. */
  recipient: Address;
  dataHash: Hex;
  size: bigint;
  license?: string;
  provenance?: string;
};

/** An attester attests on EAS that `dataHash` (of `size` bytes) is the recipient's, with a licence and provenance. */
export async function attestData(parameters: AttestDataParameters): Promise<Hex> {
  const payload = encodeAbiParameters(parseAbiParameters(DATA_SCHEMA), [
    parameters.dataHash,
    parameters.size,
    parameters.license ?? "CC-BY-4.0",
    parameters.provenance ?? "collected by the contributor",
  ]);
  const hash = await parameters.attester.writeContract({
    address: parameters.eas,
    abi: easAbi,
    functionName: "attest",
    args: [
      {
        schema: parameters.schemaUID,
        data: {
          recipient: parameters.recipient,
          expirationTime: 0n,
          revocable: true,
          refUID: zeroHash,
          data: payload,
          value: 0n,
        },
      },
    ],
  });
  const receipt = await parameters.publicClient.waitForTransactionReceipt({ hash });
  const [attested] = parseEventLogs({ abi: easAbi, eventName: "Attested", logs: receipt.logs });
  if (receipt.status !== "success" || !attested) throw new BaseError(`Attesting failed in transaction ${hash}.`);
  return attested.args.uid;
}
