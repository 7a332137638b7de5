import { decodeFunctionData, type Abi, type Address, type Hex } from "viem";
import {
  contributorRewardsAbi,
  governanceTokenAbi,
  policyGovernorAbi,
  policyRegistryAbi,
  runRewardsAbi,
  timelockControllerAbi,
  usageSettlementAbi,
} from "./abis.ts";
import type { Deployment } from "./RuntimeConfig.ts";
import { decodePolicyCall, describePolicyCall } from "@dao-ai/pipeline-worker/policy-actions";
import { formatEth, formatTokens, plural, shortAddress, shortHex } from "./format.ts";
import type { Policy } from "./readPolicy.ts";

/** One call a proposal makes, as the Governor stores it. */
export type Call = { target: Address; value: bigint; data: Hex };

/** A call in plain words, with what it changes when the current policy is known. */
export type DescribedCall = {
  /** The sentence a voter reads: "Allow 0xab…cd to submit training data". */
  summary: string;
  /** Which contract and function, for those who check: "PolicyRegistry.setSubmitter". */
  signature: string;
  /** The decoded arguments, labelled. */
  fields: { label: string; value: string }[];
  /** What changes, before and after (present when the policy was given and the call changes it). */
  changes: { label: string; before: string; after: string }[];
  /** Whether the call was recognised; an unrecognised call deserves a careful look. */
  known: boolean;
};

type Contracts = Deployment["contracts"];

const TARGETS: { key: keyof Contracts; name: string; abi: Abi }[] = [
  { key: "policyRegistry", name: "PolicyRegistry", abi: policyRegistryAbi },
  { key: "contributorRewards", name: "ContributorRewards", abi: contributorRewardsAbi },
  { key: "token", name: "GovernanceToken", abi: governanceTokenAbi },
  { key: "governor", name: "PolicyGovernor", abi: policyGovernorAbi },
  { key: "timelock", name: "TimelockController", abi: timelockControllerAbi },
  { key: "usageSettlement", name: "UsageSettlement", abi: usageSettlementAbi },
  { key: "runRewards", name: "RunRewards", abi: runRewardsAbi },
];

/** Decodes a call against the system's ABIs and says what it does, in words. */
export function describeCall(call: Call, contracts: Contracts, policy?: Policy): DescribedCall {
  const target = TARGETS.find((t) => contracts[t.key].toLowerCase() === call.target.toLowerCase());
  const valueNote = call.value > 0n ? ` (sending ${formatEth(call.value)} from the treasury)` : "";
  if (call.data === "0x" || call.data.length < 10) {
    return {
      summary:
        call.value > 0n
          ? `Send ${formatEth(call.value)} from the treasury to ${shortAddress(call.target)}`
          : `Call ${shortAddress(call.target)} with no data`,
      signature: "transfer",
      fields: [
        { label: "to", value: call.target },
        { label: "value", value: formatEth(call.value) },
      ],
      changes: [],
      known: call.value > 0n,
    };
  }
  if (target) {
    try {
      const { functionName, args = [] } = decodeFunctionData({ abi: target.abi, data: call.data });
      const described = describeKnown(target.name, functionName, args, call, policy);
      if (described) {
        return {
          ...described,
          summary: described.summary + (target.key === "contributorRewards" ? "" : valueNote),
          signature: `${target.name}.${functionName}`,
          fields: described.fields ?? defaultFields(target.abi, functionName, args),
          known: true,
        };
      }
      return {
        summary: `Call ${target.name}.${functionName}${valueNote}`,
        signature: `${target.name}.${functionName}`,
        fields: defaultFields(target.abi, functionName, args),
        changes: [],
        known: true,
      };
    } catch {
      // Falls through to the raw description.
    }
  }
  return {
    summary: `Raw call to ${shortAddress(call.target)} (function ${call.data.slice(0, 10)})${valueNote}`,
    signature: "raw call",
    fields: [
      { label: "target", value: call.target },
      { label: "value", value: formatEth(call.value) },
      { label: "calldata", value: call.data },
    ],
    changes: [],
    known: false,
  };
}

type KnownDescription = Omit<DescribedCall, "signature" | "known" | "fields"> & { fields?: DescribedCall["fields"] };

function describeKnown(
  contract: string,
  fn: string,
  args: readonly unknown[],
  call: Call,
  policy: Policy | undefined,
): KnownDescription | undefined {
  const a = (i: number) => args[i];
  const addr = (i: number) => a(i) as Address;

  if (contract === "PolicyRegistry") {
    const registryCall = decodePolicyCall(call.data);
    return registryCall && describePolicyCall(registryCall, policy);
  }
  if (contract === "ContributorRewards" && fn === "voidContribution") {
    return {
      summary: `Void the contribution of data ${shortHex(a(0) as Hex)}: it is never paid, and its share goes to its epoch's other contributions`,
      changes: [],
    };
  }
  if (contract === "ContributorRewards" && fn === "fund") {
    return {
      summary: `Fund the reward pool of epoch ${String(a(0))} with ${formatEth(call.value)} from the treasury`,
      changes: [],
    };
  }
  if (contract === "RunRewards" && fn === "fundRun") {
    return {
      summary: `Grant ${formatEth(call.value)} from the treasury to the contributions the model of run ${shortHex(a(0) as Hex)} was trained on`,
      changes: [],
    };
  }
  if (contract === "GovernanceToken" && fn === "transfer") {
    return {
      summary: `Send ${formatTokens(a(1) as bigint)} governance tokens from the treasury to ${shortAddress(addr(0))}`,
      changes: [],
    };
  }
  if (contract === "PolicyGovernor") {
    switch (fn) {
      case "setVotingDelay":
        return { summary: `Set the voting delay to ${plural(a(0) as bigint, "block")}`, changes: [] };
      case "setVotingPeriod":
        return { summary: `Set the voting period to ${plural(a(0) as bigint, "block")}`, changes: [] };
      case "setProposalThreshold":
        return { summary: `Set the votes needed to propose to ${formatTokens(a(0) as bigint)}`, changes: [] };
      case "updateQuorumNumerator":
        return { summary: `Set the quorum to ${String(a(0))}% of the supply`, changes: [] };
      case "setProposalGuardian":
        return { summary: `Make ${shortAddress(addr(0))} the proposal guardian (may cancel proposals)`, changes: [] };
    }
  }
  return undefined;
}

function defaultFields(abi: Abi, functionName: string, args: readonly unknown[]) {
  const item = abi.find((i) => i.type === "function" && i.name === functionName && i.inputs.length === args.length);
  const inputs = item && item.type === "function" ? item.inputs : [];
  return args.map((value, i) => ({ label: inputs[i]?.name || `arg ${i}`, value: stringify(value) }));
}

function stringify(value: unknown): string {
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return value.map(stringify).join(", ");
  if (typeof value === "object" && value !== null)
    return JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v));
  return String(value);
}
