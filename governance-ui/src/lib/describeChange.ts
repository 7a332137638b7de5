import type { Address, Hex } from "viem";
import { formatDuration, formatEth, formatTime, plural, shortAddress, shortHex } from "./format.ts";
import { tierWords } from "./describeCall.ts";
import type { PolicyChange } from "./readPolicy.ts";

/** A change of policy, from its event, in the past tense: "Allowed 0xab…cd to submit training data". */
export function describeChange({ eventName, args }: PolicyChange): string {
  const address = (key: string) => shortAddress(args[key] as Address);
  switch (eventName) {
    case "SubmitterSet":
      return args.allowed
        ? `Allowed ${address("submitter")} to submit training data`
        : `Removed ${address("submitter")} from the submitter allowlist`;
    case "AttestationRequirementSet": {
      const attesters = args.attesters as Address[];
      const maxAge = args.maxAge as bigint;
      return `Required ${String(args.minAttestations)} of ${plural(attesters.length, "trusted attester")} (${attesters
        .map(shortAddress)
        .join(", ")})${maxAge === 0n ? "" : `, at most ${formatDuration(maxAge)} old`}`;
    }
    case "QuotaSet": {
      const quota = args.queriesPerEpoch as bigint;
      return quota === 0n
        ? `Removed consumer ${address("consumer")}`
        : `Set the quota of ${address("consumer")} to ${plural(quota, "query", "queries")} per epoch`;
    }
    case "TierSet": {
      const tier = {
        queriesPerEpoch: args.queriesPerEpoch as bigint,
        pricePerEpoch: args.pricePerEpoch as bigint,
        open: args.open as boolean,
        maxMembers: Number(args.maxMembers),
      };
      return tier.queriesPerEpoch === 0n
        ? `Removed access tier ${String(args.tierId)}`
        : `Set access tier ${String(args.tierId)}: ${tierWords(tier)}`;
    }
    case "TierJoined":
      return `${address("consumer")} joined access tier ${String(args.tierId)} for epochs ${String(args.fromEpoch)} to ${String(
        (args.untilEpoch as bigint) - 1n,
      )}, paying ${formatEth(args.paid as bigint)}`;
    case "QueryFeeSet":
      return `Set the fee per query to ${formatEth(args.feePerQuery as bigint)}`;
    case "CommitteeSet":
      return `Replaced the keyholder committee (#${String(args.committeeId)}): ${plural(
        (args.members as Address[]).length,
        "member",
      )}, ${String(args.threshold)} needed to release a key`;
    case "TrainingRunApproved":
      return `Approved training run ${shortHex(args.runId as Hex)} for operator ${address("operator")}, until ${formatTime(
        args.expiresAt as bigint,
      )}`;
    case "TrainingRunRevoked":
      return `Withdrew the approval of training run ${shortHex(args.runId as Hex)}`;
    case "WorkerSet":
      return args.authorised ? `Authorised worker ${address("worker")}` : `Removed worker ${address("worker")}`;
    case "RevealDelaySet":
      return `Set the model reveal delay to ${formatDuration(args.revealDelay as bigint)}`;
    case "GuardianSet":
      return `Replaced the guardian ${address("previousGuardian")} with ${address("newGuardian")}`;
    case "KillSwitchEngaged":
      return `Engaged the kill switch (engagement ${String(args.engagementId)}): “${String(args.reason)}”`;
    case "KillSwitchLifted":
      return `Lifted the kill switch (engagement ${String(args.engagementId)})`;
    default:
      return eventName;
  }
}
