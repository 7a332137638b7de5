import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isAddressEqual } from "viem";
import { contributorRewardsAbi } from "../../../deployments/abis.ts";
import {
  createWorkerClient,
  submissionTransport,
  WorkerRefusal,
} from "../../../scripts/lib/actors/createWorkerClient.ts";
import { submitContribution, type ContributionStep } from "../../src/contribute/submitContribution.ts";
import { createAttestations } from "../../../test/helpers/attestations.ts";
import { createWorkerSystem, type WorkerSystem } from "../helpers/createWorkerSystem.ts";
import { sha256, trainingData } from "../helpers/submissions.ts";

// The one client-side implementation of submitting a contribution (the CLIs, the demo and the UI's
// Contribute page all call it), against a real worker and chain, through the scripts' transport:
// the steps a contributor is shown, in order, and a refusal that stops it before any data moves.

let s: WorkerSystem;

beforeAll(async () => {
  s = await createWorkerSystem({ autoRecord: true });
});
afterAll(async () => {
  await s?.close();
});

describe("submitContribution", () => {
  it("signs, sends, uploads and follows the submission until it is recorded, telling each step", async () => {
    const data = trainingData(4096);
    const dataHash = sha256(data);
    const contributor = s.accounts.contributor;
    const uid = await createAttestations(s).attest({
      attester: s.accounts.attester,
      recipient: contributor.account.address,
      data: { dataHash, size: BigInt(data.byteLength) },
    });
    const steps: ContributionStep[] = [];
    const recorded = await submitContribution({
      transport: submissionTransport(createWorkerClient(s.url)),
      signer: contributor,
      data,
      attestations: { onchain: [uid], offchain: [] },
      waitForRecording: { timeoutMs: 60_000 },
      onProgress: (p) => steps.push(p.step),
    });
    expect(steps).toEqual(["reading", "signing", "sending", "uploading", "recording"]);
    expect(recorded.state, JSON.stringify(recorded)).toBe("recorded");
    expect(recorded.dataHash).toBe(dataHash);
    const onChain = await s.publicClient.readContract({
      address: s.deployment.contracts.contributorRewards,
      abi: contributorRewardsAbi,
      functionName: "contributionOf",
      args: [dataHash],
    });
    expect(isAddressEqual(onChain.contributor, contributor.account.address)).toBe(true);
  });

  it("throws the worker's refusal of the envelope and uploads nothing", async () => {
    const data = trainingData(4096);
    const outsider = s.accounts.outsider;
    const uid = await createAttestations(s).attest({
      attester: s.accounts.attester,
      recipient: outsider.account.address,
      data: { dataHash: sha256(data), size: BigInt(data.byteLength) },
    });
    const before = s.storedBlocks();
    const steps: ContributionStep[] = [];
    const refusal = await submitContribution({
      transport: submissionTransport(createWorkerClient(s.url)),
      signer: outsider,
      data,
      attestations: { onchain: [uid], offchain: [] },
      onProgress: (p) => steps.push(p.step),
    }).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(WorkerRefusal);
    expect((refusal as WorkerRefusal).response.status).toBe(403);
    expect((refusal as WorkerRefusal).response.body.code).toBe("SUBMITTER_NOT_ALLOWED");
    expect(steps).toEqual(["reading", "signing", "sending"]);
    expect(s.storedBlocks()).toBe(before);
  });
});
