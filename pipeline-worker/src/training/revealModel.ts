import { createHash } from "node:crypto";
import type { Account, Address, Chain, Hex, PublicClient, Transport, WalletClient } from "viem";
import { modelCommitmentsAbi } from "../abis.ts";
import { isWorkerError, WorkerError } from "../internal/WorkerError.ts";
import { computeCid } from "../storage/computeCid.ts";
import type { ContentStore } from "../storage/ContentStore.ts";
import { modelCommitmentsError } from "./contractRevert.ts";

export type RevealModelParameters = {
  runId: Hex;
  /** The plaintext weights the run committed to. */
  weights: Uint8Array;
  publicClient: PublicClient;
  walletClient: WalletClient<Transport, Chain, Account>;
  modelCommitments: Address;
  store: ContentStore;
};

/**
 * Delayed publication: once the reveal delay has passed, publishes the plaintext weights on IPFS
 * and records where on chain (ModelCommitments.revealModel). Refuses weights that are not the
 * ones committed (WEIGHTS_MISMATCH) and a reveal before `revealableAt` (REVEAL_TOO_EARLY), and
 * simulates the reveal before anything is published: published weights cannot be taken back, so
 * a reveal the contract refuses (the kill switch engaged, the run revoked or its operator
 * removed) must leave them unpublished. The simulation uses the CID the store will give the
 * weights, computed without storing them.
 */
export async function revealModel(parameters: RevealModelParameters): Promise<{ uri: string; transactionHash: Hex }> {
  const { publicClient, walletClient, runId } = parameters;
  const commitment = await publicClient.readContract({
    address: parameters.modelCommitments,
    abi: modelCommitmentsAbi,
    functionName: "commitmentOf",
    args: [runId],
  });
  if (commitment.committedAt === 0n) {
    throw new WorkerError("MODEL_NOT_REVEALED", `Run ${runId} has no model commitment to reveal.`, {
      retryable: false,
    });
  }
  const weightsHash = `0x${createHash("sha256").update(parameters.weights).digest("hex")}`;
  if (weightsHash !== commitment.weightsHash.toLowerCase()) {
    throw new WorkerError(
      "WEIGHTS_MISMATCH",
      `These weights hash to ${weightsHash}, not the committed ${commitment.weightsHash}.`,
      {
        hints: ["Reveal the weights file the training run wrote, byte for byte."],
      },
    );
  }
  const { timestamp } = await publicClient.getBlock();
  if (timestamp < commitment.revealableAt) {
    throw new WorkerError(
      "REVEAL_TOO_EARLY",
      `Run ${runId}'s model may be revealed from ${new Date(Number(commitment.revealableAt) * 1000).toISOString()}.`,
      { extra: { revealableAt: commitment.revealableAt.toString() } },
    );
  }
  const cid = await computeCid([parameters.weights]);
  const uri = `ipfs://${cid.toString()}`;
  try {
    const { request } = await publicClient.simulateContract({
      account: walletClient.account,
      address: parameters.modelCommitments,
      abi: modelCommitmentsAbi,
      functionName: "revealModel",
      args: [runId, uri],
    });
    const stored = await parameters.store.put([parameters.weights]);
    if (!stored.cid.equals(cid)) {
      throw new WorkerError("INTERNAL", `The store gave the weights ${stored.cid}, not the computed ${cid}.`);
    }
    const transactionHash = await walletClient.writeContract(request);
    const receipt = await publicClient.waitForTransactionReceipt({ hash: transactionHash });
    if (receipt.status !== "success") throw new WorkerError("CHAIN_UNAVAILABLE", "The reveal transaction reverted.");
    return { uri, transactionHash };
  } catch (error) {
    throw isWorkerError(error) ? error : modelCommitmentsError(error, "reveal the model");
  }
}
