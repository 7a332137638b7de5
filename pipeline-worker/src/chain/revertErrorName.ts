import { BaseError as ViemError, ContractFunctionRevertedError } from "viem";

/**
 * The name of the custom error a contract call reverted with ("unknown" for a revert whose error
 * the ABI does not name), or undefined when the failure was not a revert at all (an RPC outage,
 * say), which callers treat as retryable rather than as the contract's verdict.
 */
export function revertErrorName(error: unknown): string | undefined {
  const reverted =
    error instanceof ViemError ? error.walk((e) => e instanceof ContractFunctionRevertedError) : undefined;
  if (!(reverted instanceof ContractFunctionRevertedError)) return undefined;
  return reverted.data?.errorName ?? "unknown";
}
