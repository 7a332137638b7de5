import {
  encodeAbiParameters,
  parseAbiParameters,
  parseEventLogs,
  sha256,
  zeroHash,
  type Address,
  type Hex,
  type PublicClient,
} from "viem";
import { easAbi } from "../../../deployments/abis.ts";
import { submissionTypes } from "@dao-ai/pipeline-worker/eip712";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import type { Wallet } from "./createGovernanceDriver.ts";
import { DATA_SCHEMA } from "../deploy/deploySystem.ts";
import type { WorkerClient, WorkerResponse } from "./createWorkerClient.ts";

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

/** The worker's view of a submission (GET /v1/submissions/:id). */
export type SubmissionStatus = {
  id: string;
  state: "awaiting_data" | "stored" | "recording" | "recorded" | "withdrawn" | "rejected";
  uploadUrl: string | null;
  manifestCid: string | null;
  ciphertextCid: string | null;
  transactionHash: string | null;
  rejection: { code: string; detail: string } | null;
  /** Only in the answer to the POST that began the submission: the capability to upload its data. */
  uploadToken?: string;
};

export type SubmitContributionParameters = {
  worker: WorkerClient;
  contributor: Wallet;
  /** From GET /v1/eip712. */
  domain: { name: string; version: string; chainId: number; verifyingContract: Address };
  data: Uint8Array;
  attestations: { onchain: Hex[] };
  /** Defaults to a random one. */
  nonce?: bigint;
};

/**
 * What a contributor's client does: signs the submission (EIP-712), sends the envelope, and, if
 * the worker accepts it, uploads the data with the upload token its answer carried. Returns the worker's answers as they are, refusals
 * included, so callers can check the codes.
 */
export async function submitContribution(parameters: SubmitContributionParameters): Promise<{
  begin: WorkerResponse<SubmissionStatus>;
  upload?: WorkerResponse<SubmissionStatus>;
  dataHash: Hex;
}> {
  const { worker, contributor, data } = parameters;
  const dataHash = sha256(data);
  const size = BigInt(data.byteLength);
  const nonce = parameters.nonce ?? BigInt(Math.floor(Math.random() * Number.MAX_SAFE_INTEGER));
  const deadline = BigInt(Math.floor(Date.now() / 1000) + 3600);
  const address = contributor.account.address;
  const signature = await contributor.signTypedData({
    domain: parameters.domain,
    types: submissionTypes,
    primaryType: "Submission",
    message: { contributor: address, dataHash, size, nonce, deadline },
  });
  const begin = await worker.post<SubmissionStatus>("/v1/submissions", {
    contributor: address,
    dataHash,
    size: size.toString(),
    nonce: nonce.toString(),
    deadline: Number(deadline),
    chainId: parameters.domain.chainId,
    signature,
    attestations: { onchain: parameters.attestations.onchain, offchain: [] },
  });
  if (begin.status !== 201 || !begin.body.uploadUrl || !begin.body.uploadToken) return { begin, dataHash };
  const upload = await worker.put<SubmissionStatus>(begin.body.uploadUrl, data, {
    authorization: `Bearer ${begin.body.uploadToken}`,
  });
  return { begin, upload, dataHash };
}

/** Waits until the worker has recorded the submission on chain (or rejected it). */
export async function waitForRecorded(worker: WorkerClient, id: string, timeoutMs = 60_000): Promise<SubmissionStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status, body } = await worker.get<SubmissionStatus>(`/v1/submissions/${id}`);
    if (status === 200 && (body.state === "recorded" || body.state === "rejected")) return body;
    if (Date.now() > deadline) {
      throw new BaseError(
        `The worker did not record submission ${id} within ${timeoutMs / 1000} s (state ${body.state}).`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
