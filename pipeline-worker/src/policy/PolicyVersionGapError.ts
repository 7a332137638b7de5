import type { Hex } from "viem";
import { BaseError } from "../internal/BaseError.ts";

export type PolicyVersionGapErrorParameters = {
  /** The version the next event had to carry. */
  expected: bigint;
  /** The version it carried. */
  actual: bigint;
  blockNumber: bigint;
  blockHash: Hex;
};

/**
 * An event's policy version does not follow the one before it. Every change on chain bumps the
 * version by exactly one, so a gap means logs were missed (an RPC node that is behind or drops
 * logs) or the chain reorganised while they were read. Reading again usually cures it.
 */
export class PolicyVersionGapError extends BaseError {
  override name = "PolicyVersionGapError";
  readonly expected: bigint;
  readonly actual: bigint;
  readonly blockNumber: bigint;

  constructor(parameters: PolicyVersionGapErrorParameters) {
    super(
      `PolicyRegistry event in block ${parameters.blockNumber} carries policy version ${parameters.actual}, expected ${parameters.expected}: logs are missing.`,
      {
        retryable: true,
        hints: [
          "The sync reads the missing range again on its next poll.",
          "If this repeats, the RPC node is dropping logs or is behind its peers: point rpcUrl at another node.",
        ],
      },
    );
    this.expected = parameters.expected;
    this.actual = parameters.actual;
    this.blockNumber = parameters.blockNumber;
  }
}
