import { isAddressEqual, sha256, type Hex } from "viem";
import { contributorRewardsAbi } from "../../deployments/abis.ts";
import { formatTrainingRecords } from "@dao-ai/pipeline-worker/trainingRecords";
import { generateScamMessages } from "@dao-ai/pipeline-worker/generateScamMessages";
import { submitContribution } from "@dao-ai/pipeline-worker/contribute";
import type { SubmissionStatus } from "@dao-ai/pipeline-worker/submission-api";
import { attestData } from "../lib/actors/attestData.ts";
import type { Wallet } from "../lib/actors/createGovernanceDriver.ts";
import { submissionTransport, WorkerRefusal, type WorkerResponse } from "../lib/actors/createWorkerClient.ts";
import { type Demo, expect, line, roles, style } from "./story.ts";

/** Labelled messages, the kind of data this AI learns from, as JSON Lines. */
export function trainingData(seed: number, count: number): Uint8Array {
  return new TextEncoder().encode(formatTrainingRecords(generateScamMessages({ seed, count })));
}

export async function contribute(d: Demo, seed: number, story: string): Promise<SubmissionStatus> {
  const contributor = d.clients.wallet(roles.contributor);
  const data = trainingData(seed, 200);
  const dataHash = sha256(data);
  const uid = await attestData({
    publicClient: d.clients.publicClient,
    attester: d.clients.wallet(roles.attester),
    eas: d.deployment.contracts.eas,
    schemaUID: d.deployment.dataSchema.uid,
    recipient: contributor.account.address,
    dataHash,
    size: BigInt(data.byteLength),
    provenance: story,
  });
  expect(
    true,
    `the attester attests on EAS that ${data.byteLength} bytes with SHA-256 ${dataHash.slice(0, 18)}… are the contributor's, licensed CC-BY-4.0 (attestation ${uid.slice(0, 18)}…)`,
  );
  const status = await submitContribution({
    transport: submissionTransport(d.worker),
    signer: contributor,
    data,
    attestations: { onchain: [uid], offchain: [] },
    waitForRecording: {},
    onProgress: ({ step }) => {
      if (step === "uploading") {
        expect(
          true,
          "the contributor signs the submission (EIP-712) and sends it: the worker checks the allowlist, signature and attestation and says 201",
        );
      }
      if (step === "recording") {
        expect(
          true,
          "the contributor uploads the data with the upload token the worker answered with (no one else can); the worker hashes, encrypts and stores it (202)",
        );
      }
    },
  });
  expect(
    status.state === "recorded",
    `the worker records the contribution on chain (transaction ${status.transactionHash?.slice(0, 18)}…)`,
  );
  const recorded = await d.clients.publicClient.readContract({
    address: d.deployment.contracts.contributorRewards,
    abi: contributorRewardsAbi,
    functionName: "contributionOf",
    args: [dataHash],
  });
  expect(
    isAddressEqual(recorded.contributor, contributor.account.address) && recorded.epoch === d.epoch,
    `ContributorRewards checked the attestation itself and credits the contributor in epoch ${recorded.epoch}`,
  );
  line(
    style.dim(
      `    encrypted with a fresh AES-256-GCM key split 2-of-3 among the keyholders; manifest on IPFS: ${status.manifestCid}`,
    ),
  );
  d.contributed.push({ dataHash, size: BigInt(data.byteLength), weight: BigInt(recorded.weight) });
  return status;
}

/**
 * Submits `data` as `contributor` with the given on-chain attestations, as the contribute client
 * does; the worker's refusal, if it refused (at any step), else undefined.
 */
export async function refusalOf(
  d: Demo,
  contributor: Wallet,
  data: Uint8Array,
  onchain: Hex[],
): Promise<WorkerResponse<unknown> | undefined> {
  try {
    await submitContribution({
      transport: submissionTransport(d.worker),
      signer: contributor,
      data,
      attestations: { onchain, offchain: [] },
    });
    return undefined;
  } catch (error) {
    if (error instanceof WorkerRefusal) return error.response;
    throw error;
  }
}
