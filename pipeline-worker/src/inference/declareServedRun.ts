import {
  zeroHash,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { usageSettlementAbi } from "../abis.ts";
import { revertErrorName } from "../chain/revertErrorName.ts";
import type { Logger } from "../internal/createLogger.ts";
import { WorkerError } from "../internal/WorkerError.ts";

export type DeclareServedRunParameters = {
  publicClient: PublicClient;
  walletClient: WalletClient<Transport, Chain, Account>;
  usageSettlement: Address;
  /** The run whose committed model the worker answers with; undefined: none (fees go to the epoch's pool). */
  runId: Hex | undefined;
  /** Settles every lane served so far, whatever its epoch (the settler's `flush({ all: true })`). */
  settleAll: () => Promise<unknown>;
  logger: Logger;
};

/**
 * Tells UsageSettlement which model this worker answers with, so that the fees of its queries go
 * to the contributions that model learned from (RunRewards). Done at start, when the chain says
 * otherwise: the lanes served until now are settled first, under the run declared before, since
 * UsageSettlement credits a settlement to the run declared when it lands. A refusal (the worker
 * not authorised yet, the run not committed or revoked) is logged and leaves the declaration as
 * it was: queries are still served and settled, and the next start tries again.
 */
export async function declareServedRun(parameters: DeclareServedRunParameters): Promise<void> {
  const { publicClient, walletClient, usageSettlement, logger } = parameters;
  const runId = (parameters.runId ?? zeroHash).toLowerCase() as Hex;
  let declared: Hex | undefined;
  try {
    declared = (
      await publicClient.readContract({
        address: usageSettlement,
        abi: usageSettlementAbi,
        functionName: "servedRun",
        args: [walletClient.account.address],
      })
    ).toLowerCase() as Hex;
    if (declared === runId) return;
    await parameters.settleAll();
    const { request } = await publicClient.simulateContract({
      account: walletClient.account,
      address: usageSettlement,
      abi: usageSettlementAbi,
      functionName: "serveRun",
      args: [runId],
    });
    const hash = await walletClient.writeContract(request);
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") {
      throw new WorkerError("CHAIN_UNAVAILABLE", `The serveRun transaction ${hash} reverted.`);
    }
    logger.info(
      { runId, previous: declared, transactionHash: hash },
      "served run declared: the fees of its queries go to its contributions",
    );
  } catch (error) {
    logger.warn(
      { err: error, runId, previous: declared ?? null, reason: revertErrorName(error) ?? null },
      "declaring the served run failed; fees go where the chain says until the next start",
    );
  }
}
