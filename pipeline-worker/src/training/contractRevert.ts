import { revertErrorName } from "../chain/revertErrorName.ts";
import type { ErrorCode } from "../internal/errorCodes.ts";
import { WorkerError } from "../internal/WorkerError.ts";

const CODES: Record<string, ErrorCode> = {
  ModelKillSwitchEngaged: "KILL_SWITCH_ENGAGED",
  ModelRunNotApproved: "TRAINING_RUN_NOT_APPROVED",
  ModelRunRevoked: "TRAINING_RUN_NOT_APPROVED",
  ModelNotOperator: "NOT_RUN_OPERATOR",
  ModelAlreadyCommitted: "MODEL_ALREADY_COMMITTED",
  ModelAlreadyRevealed: "MODEL_ALREADY_COMMITTED",
  ModelNotCommitted: "MODEL_NOT_REVEALED",
  ModelRevealTooEarly: "REVEAL_TOO_EARLY",
  ModelEmptyValue: "VALIDATION_FAILED",
};

/** ModelCommitments' refusal as the worker's error, or CHAIN_UNAVAILABLE for anything else. */
export function modelCommitmentsError(error: unknown, action: string): WorkerError {
  const name = revertErrorName(error);
  if (name !== undefined) {
    return new WorkerError(CODES[name] ?? "INTERNAL", `ModelCommitments refused to ${action}: ${name}.`, {
      cause: error,
      extra: { contractError: name },
    });
  }
  return new WorkerError("CHAIN_UNAVAILABLE", `Sending the transaction to ${action} failed.`, {
    cause: error,
    hints: ["Check the RPC node and the operator account's balance, then run the command again."],
  });
}
