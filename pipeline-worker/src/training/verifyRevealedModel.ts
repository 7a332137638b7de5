import { createHash } from "node:crypto";
import type { Address, Hex, PublicClient } from "viem";
import { modelCommitmentsAbi } from "../abis.ts";
import { WorkerError } from "../internal/WorkerError.ts";
import { decodeEmbeddedWeights } from "../model/createEmbeddedModel.ts";

export type VerifyRevealedModelParameters = {
  runId: Hex;
  publicClient: PublicClient;
  modelCommitments: Address;
  /** Fetches the revealed weights by their URI (`ipfs://<cid>`); the fetcher checks the CID. */
  fetchRevealed: (uri: string) => Promise<Uint8Array>;
};

export type VerifiedModel = {
  runId: Hex;
  committedWeightsHash: Hex;
  computedWeightsHash: Hex;
  trainingSetHash: Hex;
  revealedUri: string;
  /** The contract's own `verifyWeightsHash` agrees. */
  verifiedOnChain: boolean;
  /** The weights parse as embedded-model weights (a check of form, not of the hash). */
  loadable: boolean;
};

/**
 * What anyone can run once a model is revealed: reads the commitment from chain, fetches the
 * revealed weights, hashes them, and compares with the committed hash (and asks the contract,
 * too). A mismatch is WEIGHTS_MISMATCH: the operator revealed something other than what it
 * committed to.
 */
export async function verifyRevealedModel(parameters: VerifyRevealedModelParameters): Promise<VerifiedModel> {
  const { publicClient, runId } = parameters;
  const commitment = await publicClient.readContract({
    address: parameters.modelCommitments,
    abi: modelCommitmentsAbi,
    functionName: "commitmentOf",
    args: [runId],
  });
  if (commitment.committedAt === 0n) {
    throw new WorkerError("MODEL_NOT_REVEALED", `Run ${runId} has no model commitment.`, {
      retryable: false,
      hints: ["Check the run id and the chain."],
    });
  }
  if (commitment.revealedURI === "") {
    throw new WorkerError("MODEL_NOT_REVEALED", `Run ${runId}'s model is committed but not revealed yet.`, {
      extra: { revealableAt: commitment.revealableAt.toString() },
    });
  }
  const weights = await parameters.fetchRevealed(commitment.revealedURI);
  const computed = `0x${createHash("sha256").update(weights).digest("hex")}` as Hex;
  const verifiedOnChain = await publicClient.readContract({
    address: parameters.modelCommitments,
    abi: modelCommitmentsAbi,
    functionName: "verifyWeightsHash",
    args: [runId, computed],
  });
  let loadable = true;
  try {
    decodeEmbeddedWeights(weights);
  } catch {
    loadable = false;
  }
  const result: VerifiedModel = {
    runId,
    committedWeightsHash: commitment.weightsHash,
    computedWeightsHash: computed,
    trainingSetHash: commitment.trainingSetHash,
    revealedUri: commitment.revealedURI,
    verifiedOnChain,
    loadable,
  };
  if (computed !== commitment.weightsHash.toLowerCase() || !verifiedOnChain) {
    throw new WorkerError(
      "WEIGHTS_MISMATCH",
      `The revealed weights hash to ${computed}, not to the committed ${commitment.weightsHash}.`,
      { extra: { ...result } },
    );
  }
  return result;
}
