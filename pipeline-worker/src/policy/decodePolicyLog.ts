import { decodeEventLog, type DecodeEventLogReturnType, type Hex, type Log } from "viem";
import { policyRegistryAbi } from "../abis.ts";
import { BaseError } from "../internal/BaseError.ts";

type DecodedRegistryEvent = DecodeEventLogReturnType<typeof policyRegistryAbi>;

/**
 * One PolicyRegistry event, decoded, with where it happened. `blockTimestamp` is set for
 * `KillSwitchEngaged`, whose `engagedAt` is the block's time and is not in the event itself.
 */
export type PolicyEvent = DecodedRegistryEvent & {
  blockNumber: bigint;
  blockHash: Hex;
  logIndex: number;
  transactionHash: Hex;
  blockTimestamp: bigint | undefined;
};

export type PolicyEventName = PolicyEvent["eventName"];

/**
 * Decodes a log the registry emitted. Every event the registry emits is in its ABI, so a log that
 * does not decode means the address or the ABI is wrong, and is an error, never skipped: a
 * follower that skipped a change would hold a policy that is not the DAO's.
 */
export function decodePolicyLog(log: Log): PolicyEvent {
  if (log.blockNumber === null || log.blockHash === null || log.logIndex === null || log.transactionHash === null) {
    throw new BaseError("A PolicyRegistry log from a pending block cannot be applied.", {
      hints: ["Request logs only up to a mined block number."],
    });
  }
  let decoded: DecodedRegistryEvent;
  try {
    decoded = decodeEventLog({ abi: policyRegistryAbi, data: log.data, topics: log.topics, strict: true });
  } catch (cause) {
    throw new BaseError(`A log at ${log.address} in block ${log.blockNumber} is not a PolicyRegistry event.`, {
      cause,
      hints: [
        "Check that the deployment manifest's policyRegistry address is the PolicyRegistry's.",
        "Regenerate deployments/abis.ts if the contract changed (`npm run generate:abis`).",
      ],
    });
  }
  // Added to the decoded object rather than spread into a new one: a catch-up decodes 100,000
  // logs, and spreading each took more of the policy sync's time than reducing them did.
  return Object.assign(decoded, {
    blockNumber: log.blockNumber,
    blockHash: log.blockHash,
    logIndex: log.logIndex,
    transactionHash: log.transactionHash,
    blockTimestamp: (log as { blockTimestamp?: bigint | null }).blockTimestamp ?? undefined,
  });
}
