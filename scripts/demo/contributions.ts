import { isAddressEqual, sha256 } from "viem";
import { contributorRewardsAbi } from "../../deployments/abis.ts";
import { formatTrainingRecords } from "@dao-ai/pipeline-worker/trainingRecords";
import { generateScamMessages } from "@dao-ai/pipeline-worker/generateScamMessages";
import {
  attestData,
  submitContribution,
  waitForRecorded,
  type SubmissionStatus,
} from "../lib/actors/submitContribution.ts";
import { type Demo, expect, line, problem, roles, style } from "./story.ts";

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
  const { begin, upload } = await submitContribution({
    worker: d.worker,
    contributor,
    domain: d.submissionDomain,
    data,
    attestations: { onchain: [uid] },
  });
  expect(
    begin.status === 201,
    `the contributor signs the submission (EIP-712) and sends it: the worker checks the allowlist, signature and attestation and says ${begin.status}`,
    problem(begin),
  );
  expect(
    upload?.status === 202,
    `the contributor uploads the data with the upload token the worker answered with (no one else can); the worker hashes, encrypts and stores it (${upload?.status})`,
    upload && problem(upload),
  );
  const status = await waitForRecorded(d.worker, begin.body.id);
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
